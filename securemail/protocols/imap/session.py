"""One IMAP session: the state, command framing with literals, limits, and dispatch."""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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
from securemail.protocols.imap import (
    acl,
    auth,
    basic,
    fetch,
    flags,
    folders,
    idle,
    search,
    transfer,
)
from securemail.protocols.imap import select as select_
from securemail.protocols.imap.basic import capabilities
from securemail.protocols.imap.errors import Bad, No, error_code
from securemail.protocols.imap.state import Login, Outcome, State
from securemail.protocols.imap.view import View
from securemail.services.registry import Services
from securemail.wire.imap.parser import Command, ParseError, literal_at_end, parse_command, tag_of
from securemail.wire.imap.responses import tagged, untagged

log = logging.getLogger(__name__)
MAX_LITERALS = 100  # literals in one command


@dataclass(frozen=True)
class ImapConfig:
    """Everything a session needs to know about its listener; each limit a named setting."""

    hostname: str
    max_line_length: int
    max_literal_bytes: int
    max_errors: int
    idle_timeout: float
    tls: ssl.SSLContext | None  # for STARTTLS; None on an implicit-TLS listener
    allow_plain_auth: bool = False


class Closing(Exception):
    """Say BYE and close the connection."""


Handler = Callable[["Session", Command], Awaitable[Outcome | None]]


class Session:
    def __init__(
        self,
        channel: Channel,
        services: Services,
        config: ImapConfig,
        *,
        shutdown: Shutdown | None = None,
        caps: SessionCaps | None = None,
    ) -> None:
        self.channel = channel
        self.shutdown = shutdown  # set by the listener when the server drains
        self.services = services
        self.config = config
        # [imap] max_connections_per_user, shared by this node's IMAP listeners
        self.caps = caps if caps is not None else SessionCaps(0)
        self.slot: int | None = None  # the user id whose slot this session holds
        self.state = State()
        self.errors = 0
        self.closing = False

    @property
    def may_login(self) -> bool:
        return self.channel.is_tls or self.config.allow_plain_auth

    @property
    def login(self) -> Login:
        if self.state.login is None:
            raise Bad("log in first")
        return self.state.login

    @property
    def view(self) -> View:
        if self.state.view is None:
            raise Bad("select a mailbox first")
        return self.state.view

    async def send(self, data: bytes) -> None:
        await self.channel.write(data)

    async def untagged(self, text: str) -> None:
        await self.channel.write(untagged(text))

    async def run(self) -> None:
        await self.untagged(f"OK [CAPABILITY {capabilities(self)}] {self.config.hostname} ready")
        try:
            while not self.closing:
                await self._one_command()
        except IdleTimeout:
            await self._bye("autologout: idle for too long")
        except Closing as exc:
            await self._bye(str(exc))
        except ConnectionClosed:
            return
        finally:
            if self.slot is not None:
                self.caps.release(self.slot)

    async def _bye(self, text: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.untagged(f"BYE {text}")
        self.closing = True

    async def read_line(self, interruptible: bool = True) -> bytes:
        """A line; when the server drains, waiting for one (a command, IDLE's DONE) ends in
        BYE (RFC 9051 7.1.5). `interruptible=False` inside a command that has begun."""
        shutdown = self.shutdown if interruptible else None
        try:
            line, overlong = await read_line_unless_shutdown(
                self.channel, shutdown, self.config.max_line_length, self.config.idle_timeout
            )
        except ShuttingDown:
            raise Closing("server shutting down") from None
        if overlong:
            raise Closing("line too long")
        return line

    async def _one_command(self) -> None:
        segments = await self._frame()
        if segments is None:
            return
        try:
            command = parse_command(segments)
        except ParseError as exc:
            await self._bad(tag_of(segments[0]), str(exc))
            return
        await self._execute(command)

    async def _frame(self) -> list[bytes] | None:
        """Read one command with its literals (RFC 3501 section 4.3, RFC 7888 LITERAL+)."""
        segments: list[bytes] = []
        line, total = await self.read_line(), 0
        while (announced := literal_at_end(line)) is not None:
            size, non_sync = announced
            total += size
            limit = (
                self.config.max_literal_bytes if self.state.login else self.config.max_line_length
            )
            if total > limit or len(segments) >= 2 * MAX_LITERALS:
                if non_sync:
                    raise Closing("literal too large")
                await self.send(tagged(tag_of(line), "NO", "literal too large", "TOOBIG"))
                return None
            segments.append(line)
            if not non_sync:
                await self.send(b"+ ready for literal data\r\n")
            data, line = await self._literal(size)
            segments.append(data)
        segments.append(line.rstrip(b"\n").rstrip(b"\r"))
        return segments

    async def _literal(self, size: int) -> tuple[bytes, bytes]:
        """`size` octets, and the rest of the line that follows them."""
        buffer = bytearray()
        while len(buffer) < size:
            chunk, overlong = await self.channel.read_line(
                size - len(buffer) + self.config.max_line_length, self.config.idle_timeout
            )
            if overlong and not chunk:
                raise Closing("literal line too long")
            buffer += chunk
        rest = bytes(buffer[size:]) or await self.read_line(interruptible=False)
        return bytes(buffer[:size]), rest

    async def _bad(self, tag: str, text: str) -> None:
        self.errors += 1
        await self.send(tagged(tag, "BAD", text))
        if self.errors >= self.config.max_errors:
            raise Closing("too many errors")

    async def _execute(self, command: Command) -> None:
        entry = HANDLERS.get(command.name)
        if entry is None:
            await self._bad(command.tag, f"unknown command {command.name[:40]}")
            return
        handler, states = entry
        if self._state_name() not in states:
            await self._bad(command.tag, f"{command.name} is not valid in this state")
            return
        try:
            outcome = await handler(self, command)
        except (Bad, ParseError) as exc:
            await self._bad(command.tag, str(exc) or "bad arguments")
            return
        except No as exc:
            outcome = Outcome("NO", str(exc), exc.code)
        except SecuremailError as exc:
            outcome = Outcome("NO", str(exc), error_code(exc))
        if outcome is not None:
            await self.after(command)
            await self.send(tagged(command.tag, outcome.status, outcome.text, outcome.code))

    async def after(self, command: Command) -> None:
        """Report changes to the selected folder (RFC 3501 7.4.1: no EXPUNGE during FETCH,
        STORE or SEARCH by sequence number)."""
        view = self.state.view
        if view is None or self.state.login is None:
            return
        quiet = command.name in ("FETCH", "STORE", "SEARCH")
        with contextlib.suppress(SecuremailError):
            for line in await view.refresh(self, allow_expunge=not quiet):
                await self.send(line)

    def _state_name(self) -> str:
        if self.state.login is None:
            return "nonauth"
        return "selected" if self.state.view is not None else "auth"


ANY = ("nonauth", "auth", "selected")
AUTHED = ("auth", "selected")
SELECTED = ("selected",)
HANDLERS: dict[str, tuple[Handler, tuple[str, ...]]] = {
    "CAPABILITY": (basic.capability, ANY),
    "NOOP": (basic.noop, ANY),
    "LOGOUT": (basic.logout, ANY),
    "ID": (basic.id_, ANY),
    "STARTTLS": (auth.starttls, ("nonauth",)),
    "LOGIN": (auth.login, ("nonauth",)),
    "AUTHENTICATE": (auth.authenticate, ("nonauth",)),
    "ENABLE": (basic.enable, AUTHED),
    "NAMESPACE": (basic.namespace, AUTHED),
    "LIST": (folders.list_, AUTHED),
    "LSUB": (folders.lsub, AUTHED),
    "SUBSCRIBE": (folders.subscribe, AUTHED),
    "UNSUBSCRIBE": (folders.unsubscribe, AUTHED),
    "STATUS": (folders.status, AUTHED),
    "CREATE": (folders.create, AUTHED),
    "DELETE": (folders.delete, AUTHED),
    "RENAME": (folders.rename, AUTHED),
    "SELECT": (select_.select, AUTHED),
    "EXAMINE": (select_.examine, AUTHED),
    "APPEND": (transfer.append, AUTHED),
    "IDLE": (idle.idle, AUTHED),
    "MYRIGHTS": (acl.myrights, AUTHED),
    "GETACL": (acl.getacl, AUTHED),
    "LISTRIGHTS": (acl.listrights, AUTHED),
    "SETACL": (acl.setacl, AUTHED),
    "DELETEACL": (acl.deleteacl, AUTHED),
    "CHECK": (basic.check, SELECTED),
    "CLOSE": (select_.close, SELECTED),
    "UNSELECT": (select_.unselect, SELECTED),
    "EXPUNGE": (transfer.expunge, SELECTED),
    "UID EXPUNGE": (transfer.expunge, SELECTED),
    "FETCH": (fetch.fetch, SELECTED),
    "UID FETCH": (fetch.fetch, SELECTED),
    "STORE": (flags.store, SELECTED),
    "UID STORE": (flags.store, SELECTED),
    "SEARCH": (search.search, SELECTED),
    "UID SEARCH": (search.search, SELECTED),
    "COPY": (transfer.copy, SELECTED),
    "UID COPY": (transfer.copy, SELECTED),
    "MOVE": (transfer.move, SELECTED),
    "UID MOVE": (transfer.move, SELECTED),
}
