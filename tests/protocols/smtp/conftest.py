"""Fixtures for SMTP transcripts: the demo organisation and a session runner."""

import ssl
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest

from securemail.core.context import AccessContext
from securemail.protocols.smtp.session import Session, SmtpConfig
from securemail.services.demo import DemoResult, load_demo
from securemail.services.registry import Services
from tests.protocols.memory import MemoryChannel

Runner = Callable[..., Awaitable[MemoryChannel]]


@pytest.fixture
async def demo(services: Services, system: AccessContext) -> DemoResult:
    return await load_demo(services, system)


def base_config(mode: str = "mx") -> SmtpConfig:
    return SmtpConfig(
        mode="mx" if mode == "mx" else "submission",
        hostname="mail.polres.co.uk",
        max_message_bytes=100_000,
        max_recipients=5,
        max_line_length=1000,
        max_commands_before_mail=10,
        max_errors=5,
        idle_timeout=5.0,
        tls=ssl.create_default_context(ssl.Purpose.CLIENT_AUTH),
        allow_plain_auth=False,
    )


@pytest.fixture
def run_smtp(services: Services) -> Runner:
    """Play `script` (str, CRLF line ends) against a session; return the channel."""

    async def run(
        script: str | bytes, *, mode: str = "mx", tls: bool = False, **overrides: object
    ) -> MemoryChannel:
        data = script.encode() if isinstance(script, str) else script
        channel = MemoryChannel(data, is_tls=tls)
        config = replace(base_config(mode), **overrides)  # type: ignore[arg-type]
        await Session(channel, services, config).run()
        return channel

    return run
