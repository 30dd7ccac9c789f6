"""What a session knows between commands: the login, the selected view, enabled extensions."""

from dataclasses import dataclass, field

from securemail.core.context import AccessContext
from securemail.core.model import Mailbox
from securemail.protocols.imap.view import View


@dataclass
class Outcome:
    """The tagged completion of a command."""

    status: str = "OK"
    text: str = "done"
    code: str = ""


def ok(text: str = "done", code: str = "") -> Outcome:
    return Outcome("OK", text, code)


@dataclass
class Login:
    ctx: AccessContext
    home: Mailbox  # the personal mailbox, or the group mailbox of a `user#group` login
    group_login: bool


@dataclass
class State:
    login: Login | None = None
    view: View | None = None
    enabled: set[str] = field(default_factory=set)
