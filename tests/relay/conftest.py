"""The outside world of the outbound tests: an SMTP sink standing in for a remote MX (aiosmtpd
served on this loop on 127.0.0.1:0), test certificates, a clock the tests move, and an
organisation with a sender whose Inbox receives the DSNs."""

import asyncio
import contextlib
import dataclasses
import email
import email.policy
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from securemail.config import Settings
from securemail.core.context import AccessContext
from securemail.core.model import SpecialUse
from securemail.net.dns import MxRecord, StaticResolver
from securemail.services.registry import Services
from securemail.store.repos import queue as queue_repo
from securemail.workers.outbound import OutboundWorker

ORG = "Police Research Institute"
DOMAIN = "polres.co.uk"
SENDER = f"alice@{DOMAIN}"
PASSWORD = "correct horse battery staple"
REMOTE = "remote.test"
MX_HOST = "mx.remote.test"
WAIT = 10.0  # seconds an event may take before a test fails (never a sleep)


class Clock:
    """Injected into the queue: tests move time forward instead of sleeping."""

    def __init__(self) -> None:
        self.current = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    login: str | None

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


Reply = Callable[[str], str | None]  # recipient -> a reply to refuse it with, or None


@dataclass
class SinkHandler:
    """Records what arrives; RCPT and DATA answers can be scripted per test."""

    rcpt_reply: Reply = lambda _rcpt: None
    data_replies: list[str] = field(default_factory=list)  # used up one per DATA
    messages: list[Received] = field(default_factory=list)
    mail_commands: int = 0
    logins: list[tuple[str, str, bool]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.mail_commands += 1
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        refusal = self.rcpt_reply(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_replies:
            return self.data_replies.pop(0)
        login = session.auth_data.login.decode() if session.auth_data else None
        content = envelope.original_content or b""
        self.messages.append(
            Received(
                str(envelope.mail_from), list(envelope.rcpt_tos), content, bool(session.ssl), login
            )
        )
        self.arrived.set()
        return "250 2.0.0 OK: queued"

    def authenticator(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login, password = data.login.decode(), data.password.decode()
        self.logins.append((login, password, bool(session.ssl)))
        ok = (login, password) == ("relayuser", "relay secret")
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    def recipients(self) -> list[str]:
        return [r for m in self.messages for r in m.rcpt_tos]


class BrokenTlsSMTP(SMTP):
    """Offers STARTTLS, says 220, then drops the connection: a handshake that never works."""

    async def smtp_STARTTLS(self, arg: str) -> None:
        await self.push("220 Ready to start TLS")
        assert self.transport is not None
        self.transport.close()


@dataclass
class Sink:
    handler: SinkHandler
    port: int


@dataclass
class Certificates:
    ca: trustme.CA

    def server_context(self, *names: str) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*names).configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """What the relay verifies certificates with: trusts only the test CA."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self.ca.configure_trust(context)
        return context


@pytest.fixture(scope="session")
def certs() -> Certificates:
    return Certificates(trustme.CA())


SinkFactory = Callable[..., contextlib.AbstractAsyncContextManager[Sink]]


@contextlib.asynccontextmanager
async def serve_sink(
    handler: SinkHandler | None = None,
    *,
    tls_context: ssl.SSLContext | None = None,
    auth: bool = False,
    size_limit: int = 33554432,
    broken_tls: bool = False,
) -> AsyncIterator[Sink]:
    """A remote SMTP server on 127.0.0.1:0 in this event loop (STACK.md gotcha 2)."""
    handler = handler or SinkHandler()
    kwargs: dict[str, Any] = {
        "hostname": MX_HOST,
        "tls_context": tls_context,
        "data_size_limit": size_limit,
    }
    if auth:  # loopback sink: AUTH offered with or without TLS (STACK.md gotcha 3)
        kwargs.update(authenticator=handler.authenticator, auth_require_tls=False)
    loop = asyncio.get_running_loop()
    smtp = BrokenTlsSMTP if broken_tls else SMTP
    server = await loop.create_server(lambda: smtp(handler, **kwargs), "127.0.0.1", 0)
    try:
        yield Sink(handler, server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


def resolver_for(*domains: str, address: str = "127.0.0.1") -> StaticResolver:
    """Each domain's MX is mx.<domain>, whose address is `address`."""
    return StaticResolver(
        mx_records={d: [MxRecord(10, f"mx.{d}")] for d in domains},
        addresses={f"mx.{d}": [address] for d in domains},
    )


def relay_settings(base: Settings, port: int, **relay: Any) -> Settings:
    return dataclasses.replace(base, relay=dataclasses.replace(base.relay, port=port, **relay))


@dataclass
class World:
    """The sending organisation, its sender, and a clock for the queue."""

    services: Services
    system: AccessContext
    clock: Clock
    org_id: int
    sender: AccessContext

    def worker(
        self,
        sink_port: int,
        *,
        resolver: StaticResolver | None = None,
        services: Services | None = None,
        verify_context: ssl.SSLContext | None = None,
        node: str | None = None,
        batch_size: int = 20,
        **relay: Any,
    ) -> OutboundWorker:
        """A worker whose relay reaches the sink; [relay] settings overridable per test."""
        base = services or self.services
        settings = relay_settings(base.deps.settings, sink_port, **relay)
        built = Services.build(dataclasses.replace(base.deps, settings=settings))
        return OutboundWorker(
            built,
            resolver or resolver_for(REMOTE),
            settings,
            clock=self.clock,
            node=node,
            verify_context=verify_context,
            batch_size=batch_size,
        )

    async def enqueue(
        self,
        raw: bytes,
        recipients: list[str],
        *,
        sender: str = SENDER,
        services: Services | None = None,
    ) -> list[int]:
        """What submission does: the blob, then the queue rows, in one transaction."""
        deps = (services or self.services).deps
        async with deps.db.write() as conn:
            blob_id = await deps.blobs.put(conn, raw)
            return await queue_repo.enqueue(
                conn,
                org_id=self.org_id,
                sender=sender,
                recipients=recipients,
                blob_id=blob_id,
                size=len(raw),
                now=self.clock(),
            )

    async def rows(self) -> list[queue_repo.QueueItem]:
        async with self.services.deps.db.read() as conn:
            return await queue_repo.list_items(conn, org_id=None, limit=1000)

    async def inbox(self) -> list[EmailMessage]:
        """The sender's Inbox as the sender sees it, oldest first."""
        svc = self.services
        mailbox = await svc.mailboxes.get_personal_mailbox(self.sender)
        folders = await svc.mailboxes.list_folders(self.sender, mailbox.id)
        inbox = next(f for f in folders if f.special_use is SpecialUse.INBOX)
        out = []
        for summary in reversed(await svc.messages.list_messages(self.sender, inbox.id)):
            opened = await svc.messages.open_message(self.sender, summary.id)
            parsed = email.message_from_bytes(opened.raw, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            out.append(parsed)
        return out


@pytest.fixture
async def world(services: Services, system: AccessContext) -> World:
    org = await services.directory.create_org(system, ORG, DOMAIN)
    user, _ = await services.directory.create_user(system, SENDER, password=PASSWORD)
    sender = await services.auth.context_for(user.id, channel="test")
    return World(services, system, Clock(), org.id, sender)


def message(subject: str = "Case 42", to: str = f"bob@{REMOTE}", body: str = "Hello.") -> bytes:
    return (
        f"From: Alice <{SENDER}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
        f"Date: Fri, 27 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{subject.replace(' ', '.')}"
        f"@{DOMAIN}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"\r\n{body}\r\n"
    ).encode()


def parts(msg: Message) -> list[Any]:
    """The sub-parts of a multipart (or the blocks of a message/delivery-status) part."""
    payload = msg.get_payload()
    assert isinstance(payload, list)
    return payload


async def wait_for(event: asyncio.Event) -> None:
    await asyncio.wait_for(event.wait(), WAIT)
