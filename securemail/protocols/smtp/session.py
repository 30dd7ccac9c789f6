"""One SMTP session: the state, the command loop, limits, and dispatch to command groups."""

from __future__ import annotations

import contextlib
import logging
import secrets
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

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
from securemail.protocols.smtp import hello, security, transaction
from securemail.protocols.smtp.errors import error_reply
from securemail.services.delivery import Recipient
from securemail.services.registry import Services
from securemail.wire.smtp import replies
from securemail.wire.smtp.commands import MAX_COMMAND_LINE, SyntaxProblem, parse_command
from securemail.wire.smtp.replies import Reply

log = logging.getLogger(__name__)


class AuthVerdict(Protocol):
    """What mailauth.verify.check_message returns, as the session uses it."""

    @property
    def dmarc_policy(self) -> str: ...

    @property
    def failed(self) -> bool: ...

    @property
    def temporary(self) -> bool: ...

    def stamped(self, raw: bytes) -> bytes: ...


MessageChecker = Callable[[bytes, str, str, str], Awaitable[AuthVerdict]]


@dataclass(frozen=True)
class SmtpConfig:
    """Everything a session needs to know about its listener; each limit a named setting."""

    mode: Literal["mx", "submission"]
    hostname: str
    max_message_bytes: int
    max_recipients: int
    max_line_length: int
    max_commands_before_mail: int
    max_errors: int
    idle_timeout: float
    tls: ssl.SSLContext | None  # for STARTTLS; None on an implicit-TLS listener
    allow_plain_auth: bool = False
    auth_failure_policy: str = "mark"


@dataclass
class Envelope:
    mail_from: str | None = None
    recipients: list[str] = field(default_factory=list)
    resolved: list[Recipient] = field(default_factory=list)  # MX: found at RCPT time
    local_only: bool = True  # MX: every recipient is a local mailbox


Handler = Callable[["Session", str], Awaitable[Reply | None]]


class Session:
    def __init__(
        self,
        channel: Channel,
        services: Services,
        config: SmtpConfig,
        checker: MessageChecker | None = None,
        on_queued: Callable[[], None] | None = None,
        *,
        shutdown: Shutdown | None = None,
        caps: SessionCaps | None = None,
    ) -> None:
        self.channel = channel
        # [smtp] max_connections_per_user, shared by this node's SMTP listeners
        self.caps = caps if caps is not None else SessionCaps(0)
        self.slot: int | None = None  # the user id whose slot this session holds
        self.shutdown = shutdown  # set by the listener when the server drains
        self.on_queued = on_queued  # wakes the outbound worker when mail was queued
        self.services = services
        self.config = config
        self.checker = checker
        self.session_id = secrets.token_hex(6)
        self.helo: str | None = None
        self.esmtp = False
        self.ctx: AccessContext | None = None
        self.envelope = Envelope()
        self.errors = 0
        self.commands_without_mail = 0
        self.closing = False

    @property
    def may_auth(self) -> bool:
        return self.channel.is_tls or self.config.allow_plain_auth

    async def send(self, reply: Reply) -> None:
        if reply.code >= 500:
            self.errors += 1
        await self.channel.write(reply.encode())

    async def run(self) -> None:
        await self.channel.write(
            f"220 {self.config.hostname} ESMTP securemail ready\r\n".encode("ascii")
        )
        try:
            while not self.closing:
                await self._one_command()
        except IdleTimeout:
            await self._last_words(replies.TIMEOUT)
        except ShuttingDown:  # between commands only: a DATA in progress is finished first
            await self._last_words(replies.SHUTTING_DOWN)
        except ConnectionClosed:
            return
        finally:
            self.release_slot()

    def release_slot(self) -> None:
        if self.slot is not None:
            self.caps.release(self.slot)
            self.slot = None

    async def _last_words(self, reply: Reply) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.channel.write(reply.encode())
        self.closing = True

    async def _one_command(self) -> None:
        line, overlong = await read_line_unless_shutdown(
            self.channel, self.shutdown, MAX_COMMAND_LINE, self.config.idle_timeout
        )
        if overlong:
            await self.send(replies.LINE_TOO_LONG)
        elif not line.endswith(b"\r\n") or b"\r" in line[:-2]:
            await self.send(replies.BARE_NEWLINE)  # RFC 5321 2.3.8: lines end in CRLF only
        else:
            answer = await self._dispatch(line[:-2])
            if answer is not None:  # None: the handler has replied itself (STARTTLS)
                await self.send(answer)
        if self.errors >= self.config.max_errors:
            await self._last_words(replies.TOO_MANY_ERRORS)
        elif self.commands_without_mail > self.config.max_commands_before_mail:
            await self._last_words(replies.TOO_MANY_COMMANDS)

    async def _dispatch(self, line: bytes) -> Reply | None:
        try:
            command = parse_command(line)
        except SyntaxProblem as exc:
            return replies.reply(500, "5.5.2", str(exc))
        handler = HANDLERS.get(command.verb)
        if handler is None:
            self.commands_without_mail += 1
            return replies.reply(500, "5.5.1", "command not recognised")
        if command.verb not in ("MAIL", "RCPT", "DATA", "QUIT"):
            self.commands_without_mail += 1
        try:
            return await handler(self, command.arg)
        except SecuremailError as exc:
            return error_reply(exc)

    def reset_transaction(self) -> None:
        self.envelope = Envelope()


HANDLERS: dict[str, Handler] = {
    "EHLO": hello.ehlo,
    "HELO": hello.helo,
    "NOOP": hello.noop,
    "RSET": hello.rset,
    "VRFY": hello.vrfy,
    "HELP": hello.help_,
    "QUIT": hello.quit_,
    "STARTTLS": security.starttls,
    "AUTH": security.auth,
    "MAIL": transaction.mail,
    "RCPT": transaction.rcpt,
    "DATA": transaction.data,
    "BDAT": transaction.bdat,
}
