"""Commands of every state: CAPA (RFC 2449 section 5), NOOP and QUIT with the UPDATE state
(RFC 1939 sections 5 and 6)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from securemail.core.errors import SecuremailError
from securemail.protocols.pop3 import transaction
from securemail.wire import pop3
from securemail.wire.pop3 import Command

if TYPE_CHECKING:
    from securemail.protocols.pop3.session import Session


def _no_args(command: Command) -> None:
    if command.arg:
        raise pop3.Pop3SyntaxError(f"{command.verb} takes no argument")


async def capa(s: Session, command: Command) -> bytes:
    _no_args(command)
    before_login = s.ctx is None
    caps = pop3.capabilities(
        stls=before_login and s.config.tls is not None and not s.channel.is_tls,
        user=before_login and s.may_auth,
        sasl=before_login and s.may_auth,
        implementation=pop3.IMPLEMENTATION,
    )
    return pop3.multiline("capability list follows", caps)


async def noop(s: Session, command: Command) -> bytes:
    _no_args(command)
    return pop3.ok()


async def quit_(s: Session, command: Command) -> bytes:
    """In TRANSACTION, enter UPDATE: apply what DELE marked, in one service call."""
    _no_args(command)
    s.closing = True
    with contextlib.suppress(SecuremailError):  # \Seen of what RETR sent; deletion goes on
        await transaction.record_retrieved(s)
    if s.ctx is None or s.drop is None or not s.deleted:
        return pop3.ok(f"{s.config.hostname} POP3 server signing off")
    ids = [s.drop.messages[n - 1].id for n in sorted(s.deleted)]
    try:
        done = await s.services.maildrop.delete(s.ctx, s.drop, ids)
    except SecuremailError:
        return pop3.err("some deleted messages not removed", pop3.SYS_TEMP)
    count = done.moved + done.hidden
    return pop3.ok(f"{s.config.hostname} POP3 server signing off ({count} messages deleted)")
