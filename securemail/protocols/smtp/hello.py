"""Session commands: EHLO/HELO (RFC 5321 4.1.1.1), NOOP, RSET, VRFY, HELP, QUIT."""

from __future__ import annotations

from typing import TYPE_CHECKING

from securemail.wire.smtp import replies
from securemail.wire.smtp.replies import Reply

if TYPE_CHECKING:
    from securemail.protocols.smtp.session import Session

MAX_HELO = 255


def _valid_helo(arg: str) -> bool:
    return 0 < len(arg) <= MAX_HELO and " " not in arg and arg.isprintable()


def _keywords(s: Session) -> list[str]:
    """The EHLO keywords this listener offers in this state (RFC 5321 4.1.1.1)."""
    words = [
        "PIPELINING",
        f"SIZE {s.config.max_message_bytes}",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
    ]
    if s.config.tls is not None and not s.channel.is_tls:
        words.append("STARTTLS")
    if s.may_auth and s.ctx is None:
        words.append("AUTH PLAIN LOGIN")
    return words


async def ehlo(s: Session, arg: str) -> Reply:
    if not _valid_helo(arg):
        return replies.reply(501, "5.5.4", "syntax: EHLO hostname")
    s.helo, s.esmtp = arg, True
    s.reset_transaction()
    return Reply(250, f"{s.config.hostname} greets {arg[:64]}", "", tuple(_keywords(s)))


async def helo(s: Session, arg: str) -> Reply:
    if not _valid_helo(arg):
        return replies.reply(501, "5.5.4", "syntax: HELO hostname")
    s.helo, s.esmtp = arg, False
    s.reset_transaction()
    return Reply(250, f"{s.config.hostname} greets {arg[:64]}")


async def noop(s: Session, arg: str) -> Reply:
    return replies.OK


async def rset(s: Session, arg: str) -> Reply:
    s.reset_transaction()
    return replies.OK


async def vrfy(s: Session, arg: str) -> Reply:
    """Never confirms an address (no directory harvesting): 252 as RFC 5321 3.5.3 allows."""
    return replies.reply(252, "2.5.2", "cannot verify the user, but will try to deliver")


async def help_(s: Session, arg: str) -> Reply:
    return replies.reply(214, "2.0.0", "see RFC 5321")


async def quit_(s: Session, arg: str) -> Reply:
    s.closing = True
    return replies.BYE
