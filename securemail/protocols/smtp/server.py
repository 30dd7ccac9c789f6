"""The SMTP listeners of `securemail serve`: MX, submission (STARTTLS) and submissions (TLS)."""

import ssl
from collections.abc import Callable

from securemail.config import Settings
from securemail.net.caps import SessionCaps
from securemail.net.conn import Connection
from securemail.net.listener import Listener
from securemail.protocols.smtp.session import MessageChecker, Session, SmtpConfig
from securemail.services.registry import Services
from securemail.wire.smtp import replies


def _config(settings: Settings, mode: str, tls: ssl.SSLContext | None) -> SmtpConfig:
    smtp = settings.smtp
    return SmtpConfig(
        mode="mx" if mode == "mx" else "submission",
        hostname=settings.server.hostname,
        max_message_bytes=min(smtp.max_message_bytes, settings.limits.max_message_bytes),
        max_recipients=smtp.max_recipients,
        max_line_length=smtp.max_line_length,
        max_commands_before_mail=smtp.max_commands_before_mail,
        max_errors=smtp.max_errors,
        idle_timeout=float(smtp.idle_timeout_seconds),
        tls=tls,
        allow_plain_auth=smtp.allow_plain_auth,
        auth_failure_policy=smtp.auth_failure_policy,
    )


def smtp_listener(
    name: str,
    services: Services,
    config: SmtpConfig,
    *,
    max_per_ip: int,
    implicit_tls: ssl.SSLContext | None = None,
    checker: MessageChecker | None = None,
    on_queued: Callable[[], None] | None = None,
    caps: SessionCaps | None = None,
) -> Listener:
    async def handle(conn: Connection) -> None:
        await Session(
            conn, services, config, checker, on_queued, shutdown=conn.shutdown, caps=caps
        ).run()

    return Listener(
        name,
        handle,
        max_per_ip=max_per_ip,
        refusal=replies.TOO_MANY_CONNECTIONS.encode(),
        tls=implicit_tls,
    )


def smtp_listeners(
    services: Services,
    settings: Settings,
    tls: ssl.SSLContext,
    checker: MessageChecker | None,
    on_queued: Callable[[], None] | None = None,
) -> list[tuple[Listener, int]]:
    """(listener, port) for MX, submission and submissions, as configured, sharing one count
    of authenticated sessions per user (per node: each node counts its own)."""
    cap = settings.smtp.max_connections_per_ip
    caps = SessionCaps(settings.smtp.max_connections_per_user)
    mx = smtp_listener(
        "smtp",
        services,
        _config(settings, "mx", tls),
        max_per_ip=cap,
        checker=checker,
        on_queued=on_queued,
        caps=caps,
    )
    sub = smtp_listener(
        "submission",
        services,
        _config(settings, "submission", tls),
        max_per_ip=cap,
        on_queued=on_queued,
        caps=caps,
    )
    subs = smtp_listener(
        "submissions",
        services,
        _config(settings, "submission", None),
        max_per_ip=cap,
        implicit_tls=tls,
        on_queued=on_queued,
        caps=caps,
    )
    smtp = settings.smtp
    return [(mx, smtp.port), (sub, smtp.submission_port), (subs, smtp.submissions_port)]
