"""The TRANSACTION state (RFC 1939 section 5): STAT, LIST, UIDL (RFC 1939 section 7), RETR,
TOP, DELE and RSET over the maildrop snapshot taken at login."""

from __future__ import annotations

from typing import TYPE_CHECKING

from securemail.core.errors import NotFound
from securemail.protocols.pop3.errors import CommandFailed
from securemail.services.maildrop import GONE, DropMessage, Maildrop
from securemail.wire import pop3
from securemail.wire.pop3 import Command, Pop3SyntaxError, parse_number

if TYPE_CHECKING:
    from securemail.protocols.pop3.session import Session

READ_AHEAD = 100  # messages RETR loads in one service call, and \Seen recorded at once
READ_AHEAD_BYTES = 8 * 1024 * 1024  # but no more octets than this (beyond the one asked for)


def _drop(s: Session) -> Maildrop:
    assert s.drop is not None  # the dispatch table admits these commands only after login
    return s.drop


def _params(command: Command, least: int, most: int) -> list[str]:
    params = command.params()
    if not least <= len(params) <= most or "" in params:
        raise Pop3SyntaxError(f"wrong arguments for {command.verb}")
    return params


def _message(s: Session, param: str) -> tuple[int, DropMessage]:
    """The message numbered `param` (RFC 1939 section 5: 1-based, DELE'd ones excluded)."""
    number = parse_number(param)
    messages = _drop(s).messages
    if not 1 <= number <= len(messages):
        raise CommandFailed("no such message")
    if number in s.deleted:
        raise CommandFailed(f"message {number} already deleted")
    return number, messages[number - 1]


def _live(s: Session) -> list[tuple[int, DropMessage]]:
    messages = enumerate(_drop(s).messages, start=1)
    return [(n, m) for n, m in messages if n not in s.deleted]


async def stat(s: Session, command: Command) -> bytes:
    _params(command, 0, 0)
    live = _live(s)
    return pop3.ok(f"{len(live)} {sum(m.size for _, m in live)}")


async def list_(s: Session, command: Command) -> bytes:
    params = _params(command, 0, 1)
    if params:
        number, message = _message(s, params[0])
        return pop3.ok(f"{number} {message.size}")
    live = _live(s)
    size = sum(m.size for _, m in live)
    return pop3.multiline(
        f"{len(live)} messages ({size} octets)", [f"{n} {m.size}" for n, m in live]
    )


async def uidl(s: Session, command: Command) -> bytes:
    params = _params(command, 0, 1)
    if params:
        number, message = _message(s, params[0])
        return pop3.ok(f"{number} {message.unique_id}")
    return pop3.multiline("unique-id listing follows", [f"{n} {m.unique_id}" for n, m in _live(s)])


async def retr(s: Session, command: Command) -> bytes:
    """The whole message. In a group mailbox the retrieval is recorded (audit, \\Seen) before
    the message is sent; in one's own mailbox \\Seen is recorded READ_AHEAD messages at a time
    and at QUIT or disconnect (record_retrieved)."""
    params = _params(command, 1, 1)
    number, message = _message(s, params[0])
    raw = await _read(s, number, message)
    assert s.ctx is not None
    if _drop(s).group:
        await s.services.maildrop.mark_retrieved(s.ctx, _drop(s), [message.id])
    else:
        s.retrieved.append(message.id)
        if len(s.retrieved) >= READ_AHEAD:
            await record_retrieved(s)
    return pop3.retr_response(raw)


async def _read(s: Session, number: int, message: DropMessage) -> bytes:
    """The message, from the read-ahead: on a miss, this message and the live ones after it
    (up to READ_AHEAD messages or READ_AHEAD_BYTES) are loaded in one service call."""
    if message.id not in s.read_ahead:
        drop = _drop(s)
        ids: list[int] = []
        size = 0
        for n, m in enumerate(drop.messages[number - 1 :], start=number):
            if ids and (len(ids) >= READ_AHEAD or size + m.size > READ_AHEAD_BYTES):
                break
            if n not in s.deleted:
                ids.append(m.id)
                size += m.size
        assert s.ctx is not None
        s.read_ahead = await s.services.maildrop.prefetch(s.ctx, drop, ids)
    raw = s.read_ahead.pop(message.id, None)
    if raw is None:
        raise NotFound(GONE)
    return raw


async def record_retrieved(s: Session) -> None:
    """Record \\Seen for what RETR sent from one's own mailbox (one write transaction)."""
    ids, s.retrieved = s.retrieved, []
    if ids and s.ctx is not None and s.drop is not None:
        await s.services.maildrop.mark_retrieved(s.ctx, s.drop, ids)


async def top(s: Session, command: Command) -> bytes:
    params = _params(command, 2, 2)
    _number, message = _message(s, params[0])
    lines = parse_number(params[1])
    assert s.ctx is not None
    raw = await s.services.maildrop.peek(s.ctx, _drop(s), message.id)
    return pop3.top_response(raw, lines)


async def dele(s: Session, command: Command) -> bytes:
    """Only marks; the UPDATE state at QUIT decides what deleting means for this user."""
    params = _params(command, 1, 1)
    number, _ = _message(s, params[0])
    s.deleted.add(number)
    return pop3.ok(f"message {number} deleted")


async def rset(s: Session, command: Command) -> bytes:
    _params(command, 0, 0)
    s.deleted.clear()
    live = _live(s)
    return pop3.ok(f"maildrop has {len(live)} messages ({sum(m.size for _, m in live)} octets)")
