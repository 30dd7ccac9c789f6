"""One POP3 session: the state, the command loop, limits, and dispatch to command groups."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from securemail.core.context import AccessContext
from securemail.core.errors import SecuremailError
from securemail.net.caps import SessionCaps
from securemail.net.conn import (
    Channel,
    ConnectionClosed,
    IdleTimeout,
    Shutdown,
    ShuttingDown,
    read_line_unless_shutdown,
)
from securemail.protocols.pop3 import authorization, basic, transaction
from securemail.protocols.pop3.errors import CommandFailed, error_reply
from securemail.services.maildrop import Maildrop
from securemail.services.registry import Services
from securemail.wire import pop3
from securemail.wire.pop3 import Command, Pop3SyntaxError, parse_command


class State(enum.Enum):
    """RFC 1939 section 3; UPDATE is the QUIT handler itself and never waits for a command."""

    AUTHORIZATION = "authorization"
    TRANSACTION = "transaction"


@dataclass(frozen=True)
class Pop3Config:
    """Everything a session needs to know about its listener; each limit a named setting."""

    hostname: str
    max_line_length: int
    max_errors: int
    idle_timeout: float
    tls: ssl.SSLContext | None  # for STLS; None on an implicit-TLS listener
    allow_plain_auth: bool = False


@dataclass
class MaildropLocks:
    """Which (user, mailbox) maildrops a session holds (RFC 1939 section 8: one at a time).

    Per user: alice and bob may both have the group mailbox open; alice twice may not.
    """

    held: set[tuple[int, int]] = field(default_factory=set)

    def acquire(self, key: tuple[int, int]) -> bool:
        if key in self.held:
            return False
        self.held.add(key)
        return True

    def release(self, key: tuple[int, int]) -> None:
        self.held.discard(key)


Handler = Callable[["Session", Command], Awaitable[bytes | None]]


class Session:
    def __init__(
        self,
        channel: Channel,
        services: Services,
        config: Pop3Config,
        locks: MaildropLocks | None = None,
        *,
        shutdown: Shutdown | None = None,
        caps: SessionCaps | None = None,
    ) -> None:
        self.channel = channel
        self.shutdown = shutdown  # set by the listener when the server drains
        self.services = services
        self.config = config
        self.locks = locks if locks is not None else MaildropLocks()
        # [pop3] max_connections_per_user, shared by this node's POP3 listeners
        self.caps = caps if caps is not None else SessionCaps(0)
        self.slot: int | None = None  # the user id whose slot this session holds
        self.state = State.AUTHORIZATION
        self.user_name: str | None = None  # from USER, waiting for PASS
        self.ctx: AccessContext | None = None
        self.drop: Maildrop | None = None
        self.lock_key: tuple[int, int] | None = None
        self.deleted: set[int] = set()  # message numbers marked by DELE
        self.read_ahead: dict[int, bytes] = {}  # message id -> raw, loaded ahead of RETR
        self.read_left = 0  # messages of the read-ahead not yet sent
        self.read_next = 1  # the message number after the read-ahead window
        self.reading: asyncio.Task[dict[int, bytes]] | None = None  # next window, loading
        self.marking: asyncio.Task[None] | None = None  # \Seen of a batch, being recorded
        self.retrieved: list[int] = []  # RETR'd from one's own mailbox, \Seen not yet recorded
        self.errors = 0
        self.closing = False

    @property
    def may_auth(self) -> bool:
        """Credentials only over TLS (RFC 2595 section 2.1), unless the loopback switch is on."""
        return self.channel.is_tls or self.config.allow_plain_auth

    def enter_transaction(self, ctx: AccessContext, drop: Maildrop, key: tuple[int, int]) -> None:
        self.ctx, self.drop, self.lock_key = ctx, drop, key
        self.state = State.TRANSACTION

    async def send(self, data: bytes) -> None:
        if data.startswith(b"-ERR"):
            self.errors += 1
        await self.channel.write(data)

    async def run(self) -> None:
        try:
            # No <timestamp> in the greeting: we offer no APOP (STACK.md gotcha 5).
            await self.channel.write(pop3.ok(f"{self.config.hostname} POP3 server ready"))
            while not self.closing:
                await self._one_command()
        except IdleTimeout:
            # RFC 1939 section 3: the autologout timer closes without entering UPDATE.
            await self._last_words(pop3.err("idle for too long, closing", pop3.SYS_TEMP))
        except ShuttingDown:  # after the current command; like autologout, no UPDATE state
            await self._last_words(pop3.err("server shutting down", pop3.SYS_TEMP))
        except ConnectionClosed:
            return  # without QUIT nothing marked by DELE is changed
        finally:
            with contextlib.suppress(SecuremailError):  # what was sent stays read
                await transaction.record_retrieved(self)
            if self.lock_key is not None:
                self.locks.release(self.lock_key)
            if self.slot is not None:
                self.caps.release(self.slot)

    async def _last_words(self, data: bytes) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.channel.write(data)
        self.closing = True

    async def _one_command(self) -> None:
        limit = self.config.max_line_length
        line, overlong = await read_line_unless_shutdown(
            self.channel, self.shutdown, limit, self.config.idle_timeout
        )
        if overlong:
            await self.send(pop3.err(f"line longer than {limit} octets"))
        elif not line.endswith(b"\n"):
            self.closing = True  # the peer closed in the middle of a line
            return
        else:
            text = line[:-1]
            reply = await self._dispatch(text[:-1] if text.endswith(b"\r") else text)
            if reply is not None:  # None: the handler has replied itself (STLS)
                await self.send(reply)
        if self.errors >= self.config.max_errors and not self.closing:
            await self._last_words(pop3.err("too many errors, closing"))

    async def _dispatch(self, line: bytes) -> bytes | None:
        try:
            command = parse_command(line)
            entry = HANDLERS.get(command.verb)
            if entry is None:
                return pop3.err("unknown command")
            handler, states = entry
            if self.state not in states:
                return pop3.err(f"{command.verb} is not valid in the {self.state.value} state")
            return await handler(self, command)
        except Pop3SyntaxError as exc:
            return pop3.err(str(exc))
        except CommandFailed as exc:
            return pop3.err(str(exc), exc.code)
        except SecuremailError as exc:
            return error_reply(exc)


_AUTH = frozenset({State.AUTHORIZATION})
_TRANS = frozenset({State.TRANSACTION})
_BOTH = _AUTH | _TRANS

HANDLERS: dict[str, tuple[Handler, frozenset[State]]] = {
    "CAPA": (basic.capa, _BOTH),
    "QUIT": (basic.quit_, _BOTH),
    "NOOP": (basic.noop, _TRANS),
    "STLS": (authorization.stls, _AUTH),
    "USER": (authorization.user, _AUTH),
    "PASS": (authorization.pass_, _AUTH),
    "AUTH": (authorization.auth, _AUTH),
    "STAT": (transaction.stat, _TRANS),
    "LIST": (transaction.list_, _TRANS),
    "UIDL": (transaction.uidl, _TRANS),
    "RETR": (transaction.retr, _TRANS),
    "TOP": (transaction.top, _TRANS),
    "DELE": (transaction.dele, _TRANS),
    "RSET": (transaction.rset, _TRANS),
}
