"""Commands valid in any state and session-wide ones: CAPABILITY, NOOP, LOGOUT, ID (RFC 2971),
ENABLE (RFC 5161), NAMESPACE (RFC 2342), CHECK."""

from __future__ import annotations

from typing import TYPE_CHECKING

from securemail.protocols.imap.errors import Bad
from securemail.protocols.imap.state import Outcome, ok
from securemail.wire.imap.parser import Atom, Command, astring, token_list
from securemail.wire.imap.responses import quoted_or_literal

if TYPE_CHECKING:
    from securemail.protocols.imap.session import Session

AFTER_LOGIN = (
    "IMAP4rev1 LITERAL+ ID ENABLE IDLE NAMESPACE UIDPLUS MOVE SPECIAL-USE CHILDREN UNSELECT "
    "LIST-EXTENDED LIST-STATUS CONDSTORE ACL RIGHTS=texk UTF8=ACCEPT"
)
ENABLEABLE = ("CONDSTORE", "UTF8=ACCEPT")
MAX_ID_FIELDS = 30


def capabilities(s: Session) -> str:
    if s.state.login is not None:
        return AFTER_LOGIN
    words = ["IMAP4rev1", "LITERAL+", "SASL-IR", "ID", "ENABLE"]
    if not s.channel.is_tls and s.config.tls is not None:
        words.append("STARTTLS")
    words.append("AUTH=PLAIN" if s.may_login else "LOGINDISABLED")
    return " ".join(words)


def _no_args(cmd: Command) -> None:
    if cmd.args:
        raise Bad(f"{cmd.name} takes no arguments")


async def capability(s: Session, cmd: Command) -> Outcome:
    _no_args(cmd)
    await s.untagged(f"CAPABILITY {capabilities(s)}")
    return ok("CAPABILITY completed")


async def noop(s: Session, cmd: Command) -> Outcome:
    _no_args(cmd)
    return ok("NOOP completed")


async def check(s: Session, cmd: Command) -> Outcome:
    _no_args(cmd)
    return ok("CHECK completed")


async def logout(s: Session, cmd: Command) -> Outcome:
    _no_args(cmd)
    await s.untagged("BYE logging out")
    s.closing = True
    return ok("LOGOUT completed")


async def id_(s: Session, cmd: Command) -> Outcome:
    """id = "ID" SP id-params-list; id-params-list = "(" *(string SP nstring) ")" / nil."""
    if len(cmd.args) != 1:
        raise Bad("ID takes one argument")
    arg = cmd.args[0]
    if not (isinstance(arg, Atom) and arg.upper() == "NIL"):
        fields = token_list(arg)
        if len(fields) % 2 or len(fields) > 2 * MAX_ID_FIELDS:
            raise Bad("ID takes pairs of field and value")
        for item in fields:
            if not (isinstance(item, Atom) and item.upper() == "NIL"):
                astring(item)
    name = quoted_or_literal("securemail").decode()
    await s.untagged(f'ID ("name" {name} "vendor" "securemail")')
    return ok("ID completed")


async def enable(s: Session, cmd: Command) -> Outcome:
    """enable = "ENABLE" 1*(SP capability) (RFC 5161); unknown capabilities are ignored."""
    if not cmd.args:
        raise Bad("ENABLE needs a capability")
    done = []
    for arg in cmd.args:
        word = astring(arg).upper()
        if word in ENABLEABLE and word not in s.state.enabled:
            s.state.enabled.add(word)
            done.append(word)
    await s.untagged("ENABLED" + "".join(" " + w for w in done))
    return ok("ENABLE completed")


async def namespace(s: Session, cmd: Command) -> Outcome:
    """namespace-response = "NAMESPACE" SP Namespace SP Namespace SP Namespace (RFC 2342)."""
    _no_args(cmd)
    shared = "NIL" if s.login.group_login else '(("Shared/" "/"))'
    await s.untagged(f'NAMESPACE (("" "/")) NIL {shared}')
    return ok("NAMESPACE completed")
