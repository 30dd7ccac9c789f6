"""The IMAP listeners of `securemail serve`: STARTTLS (143) and implicit TLS (993)."""

import ssl

from securemail.config import Settings
from securemail.net.caps import SessionCaps
from securemail.net.conn import Connection
from securemail.net.listener import Listener
from securemail.protocols.imap.session import ImapConfig, Session
from securemail.services.registry import Services

TOO_MANY_CONNECTIONS = b"* BYE too many connections from your address\r\n"


def imap_config(settings: Settings, tls: ssl.SSLContext | None) -> ImapConfig:
    imap = settings.imap
    return ImapConfig(
        hostname=settings.server.hostname,
        max_line_length=imap.max_line_length,
        max_literal_bytes=min(imap.max_literal_bytes, settings.limits.max_message_bytes),
        max_errors=imap.max_errors,
        idle_timeout=float(imap.idle_timeout_seconds),
        tls=tls,
        allow_plain_auth=imap.allow_plain_auth,
    )


def imap_listener(
    name: str,
    services: Services,
    config: ImapConfig,
    *,
    max_per_ip: int,
    caps: SessionCaps | None = None,
    implicit_tls: ssl.SSLContext | None = None,
) -> Listener:
    async def handle(conn: Connection) -> None:
        await Session(conn, services, config, shutdown=conn.shutdown, caps=caps).run()

    return Listener(
        name, handle, max_per_ip=max_per_ip, refusal=TOO_MANY_CONNECTIONS, tls=implicit_tls
    )


def imap_listeners(
    services: Services, settings: Settings, tls: ssl.SSLContext
) -> list[tuple[Listener, int]]:
    """(listener, port) for IMAP with STARTTLS and IMAP over implicit TLS, sharing one count
    of logged-in sessions per user (per node: each node counts its own)."""
    cap = settings.imap.max_connections_per_ip
    caps = SessionCaps(settings.imap.max_connections_per_user)
    plain = imap_listener("imap", services, imap_config(settings, tls), max_per_ip=cap, caps=caps)
    secure = imap_listener(
        "imaps",
        services,
        imap_config(settings, None),
        max_per_ip=cap,
        caps=caps,
        implicit_tls=tls,
    )
    return [(plain, settings.imap.port), (secure, settings.imap.tls_port)]
