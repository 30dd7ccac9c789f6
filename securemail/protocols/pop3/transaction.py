"""The TRANSACTION state (RFC 1939 section 5): STAT, LIST, UIDL (RFC 1939 section 7), RETR,
TOP, DELE and RSET over the maildrop snapshot taken at login."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from securemail.core.errors import NotFound, SecuremailError
from securemail.protocols.pop3.errors import CommandFailed
from securemail.services.maildrop import GONE, DropMessage, Maildrop
from securemail.wire import pop3
from securemail.wire.pop3 import Command, Pop3SyntaxError, parse_number

if TYPE_CHECKING:
    from securemail.protocols.pop3.session import Session

# Messages RETR loads in one service call, and \Seen recorded at once. A service call costs
# ~6 ms whatever its size (rights, Inbox, transaction): at 100 that was 60-90 us per message.
READ_AHEAD = 500
# But no more octets than this per window (beyond the one asked for): with the window loading
# in the background, a session holds at most about two windows.
READ_AHEAD_BYTES = 4 * 1024 * 1024


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
    (in the background, while the client reads on) and at QUIT or disconnect
    (record_retrieved)."""
    params = _params(command, 1, 1)
    number, message = _message(s, params[0])
    raw = await _read(s, number, message)
    assert s.ctx is not None
    if _drop(s).group:
        await s.services.maildrop.mark_retrieved(s.ctx, _drop(s), [message.id])
    else:
        s.retrieved.append(message.id)
        if len(s.retrieved) >= READ_AHEAD and s.marking is None:
            s.marking = asyncio.create_task(_mark(s, s.retrieved))
            s.retrieved = []
    return pop3.retr_response(raw)


def _window(s: Session, number: int) -> tuple[list[int], int]:
    """The ids of the live messages from `number` on (up to READ_AHEAD messages or
    READ_AHEAD_BYTES beyond the first), and the number after the last one looked at."""
    ids: list[int] = []
    size = 0
    messages = _drop(s).messages
    n = number
    while n <= len(messages):
        m = messages[n - 1]
        if ids and (len(ids) >= READ_AHEAD or size + m.size > READ_AHEAD_BYTES):
            break
        if n not in s.deleted:
            ids.append(m.id)
            size += m.size
        n += 1
    return ids, n


async def _read(s: Session, number: int, message: DropMessage) -> bytes:
    """The message, from the read-ahead. On a miss, this message and the live ones after it
    (up to READ_AHEAD messages or READ_AHEAD_BYTES) are loaded in one service call. When
    the client reads in order and half the loaded messages are sent, the next window is loaded
    in the background, so the next RETRs find their messages waiting."""
    if message.id not in s.read_ahead and s.reading is not None:
        await _collect(s)  # the window being loaded probably holds this one
    if message.id not in s.read_ahead:
        ids, s.read_next = _window(s, number)
        assert s.ctx is not None
        s.read_ahead = await s.services.maildrop.prefetch(s.ctx, _drop(s), ids)
        s.read_left = len(ids)
    raw = s.read_ahead.pop(message.id, None)
    if raw is None:
        raise NotFound(GONE)
    s.read_left -= 1
    if s.reading is None and s.read_left <= READ_AHEAD // 2 and s.read_next > number:
        ids, upto = _window(s, s.read_next)
        if ids:
            s.reading = asyncio.create_task(_prefetch(s, ids))
            s.read_next = upto
    return raw


async def _prefetch(s: Session, ids: list[int]) -> dict[int, bytes]:
    assert s.ctx is not None
    return await s.services.maildrop.prefetch(s.ctx, _drop(s), ids)


async def _collect(s: Session) -> None:
    """Add the background window to the read-ahead; a failure there only means the next
    miss loads in the foreground (and reports the error, if it persists)."""
    task, s.reading = s.reading, None
    if task is None:
        return
    try:
        loaded = await task
    except SecuremailError:
        return
    s.read_ahead.update(loaded)
    # Leftovers of earlier windows (DELE'd before RETR, skipped) go first, oldest first: a
    # message dropped here that is still wanted is merely loaded again on its miss.
    for stale in list(s.read_ahead)[: max(0, len(s.read_ahead) - 2 * READ_AHEAD)]:
        del s.read_ahead[stale]
    s.read_left = len(s.read_ahead)


async def _mark(s: Session, ids: list[int]) -> None:
    """\\Seen for a batch RETR sent from one's own mailbox; on failure the ids go back to be
    recorded at QUIT or disconnect."""
    try:
        if s.ctx is not None and s.drop is not None:
            await s.services.maildrop.mark_retrieved(s.ctx, s.drop, ids)
    except SecuremailError:
        s.retrieved[:0] = ids
    finally:
        s.marking = None


async def settle(s: Session) -> None:
    """Wait for the background read-ahead and \\Seen recording (QUIT, end of session)."""
    if s.reading is not None:
        with contextlib.suppress(SecuremailError):
            await _collect(s)
    if s.marking is not None:
        await s.marking


async def record_retrieved(s: Session) -> None:
    """Record \\Seen for what RETR sent from one's own mailbox (one write transaction)."""
    await settle(s)
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
