"""The POP3 listeners of `securemail serve`: STLS (port) and implicit TLS (tls_port)."""

import ssl

from securemail.config import Settings
from securemail.net.caps import SessionCaps
from securemail.net.conn import Connection
from securemail.net.listener import Listener
from securemail.protocols.pop3.session import MaildropLocks, Pop3Config, Session
from securemail.services.registry import Services
from securemail.wire import pop3

REFUSAL = pop3.err("too many connections from your address", pop3.SYS_TEMP)


def pop3_config(settings: Settings, stls: ssl.SSLContext | None) -> Pop3Config:
    p = settings.pop3
    return Pop3Config(
        hostname=settings.server.hostname,
        max_line_length=p.max_line_length,
        max_errors=p.max_errors,
        idle_timeout=float(p.idle_timeout_seconds),
        tls=stls,
        allow_plain_auth=p.allow_plain_auth,
    )


def pop3_listener(
    name: str,
    services: Services,
    config: Pop3Config,
    *,
    max_per_ip: int,
    locks: MaildropLocks,
    caps: SessionCaps | None = None,
    implicit_tls: ssl.SSLContext | None = None,
) -> Listener:
    async def handle(conn: Connection) -> None:
        await Session(conn, services, config, locks, shutdown=conn.shutdown, caps=caps).run()

    return Listener(name, handle, max_per_ip=max_per_ip, refusal=REFUSAL, tls=implicit_tls)


def pop3_listeners(
    services: Services, settings: Settings, tls: ssl.SSLContext
) -> list[tuple[Listener, int]]:
    """(listener, port) for "pop3" (STLS) and "pop3s" (implicit TLS), sharing one lock table
    and one count of logged-in sessions per user (per node: each node counts its own)."""
    cap, locks = settings.pop3.max_connections_per_ip, MaildropLocks()
    caps = SessionCaps(settings.pop3.max_connections_per_user)
    plain = pop3_listener(
        "pop3", services, pop3_config(settings, tls), max_per_ip=cap, locks=locks, caps=caps
    )
    secure = pop3_listener(
        "pop3s",
        services,
        pop3_config(settings, None),
        max_per_ip=cap,
        locks=locks,
        caps=caps,
        implicit_tls=tls,
    )
    return [(plain, settings.pop3.port), (secure, settings.pop3.tls_port)]
