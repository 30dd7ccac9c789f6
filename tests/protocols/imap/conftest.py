"""Fixtures for IMAP transcripts: the demo organisation, passwords, and a session runner."""

import ssl
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest

from securemail.core.context import AccessContext
from securemail.protocols.imap.session import ImapConfig, Session
from securemail.services.demo import DemoResult, load_demo
from securemail.services.registry import Services
from tests.protocols.memory import MemoryChannel

Runner = Callable[..., Awaitable[MemoryChannel]]
DOMAIN = "polres.co.uk"
GROUP = "GM.ZeroTolerance@polres.co.uk"


@pytest.fixture
async def demo(services: Services, system: AccessContext) -> DemoResult:
    return await load_demo(services, system)


def base_config() -> ImapConfig:
    return ImapConfig(
        hostname="mail.polres.co.uk",
        max_line_length=8192,
        max_literal_bytes=100_000,
        max_errors=5,
        idle_timeout=5.0,
        tls=ssl.create_default_context(ssl.Purpose.CLIENT_AUTH),
        allow_plain_auth=False,
    )


def login_line(demo: DemoResult, user: str, group: bool = False, tag: str = "a1") -> str:
    """A LOGIN command for a demo user (optionally the `user#group` form)."""
    address = f"{user}@{DOMAIN}"
    name = f"{address}#{GROUP}" if group else address
    password = demo.passwords[address].replace("\\", "\\\\").replace('"', '\\"')
    return f'{tag} LOGIN "{name}" "{password}"\r\n'


@pytest.fixture
def run_imap(services: Services) -> Runner:
    """Play `script` (str or bytes) against a session over TLS; return the channel."""

    async def run(script: str | bytes, *, tls: bool = True, **overrides: object) -> MemoryChannel:
        data = script.encode() if isinstance(script, str) else script
        channel = MemoryChannel(data, is_tls=tls)
        config = replace(base_config(), **overrides)  # type: ignore[arg-type]
        await Session(channel, services, config).run()
        return channel

    return run


def tagged(channel: MemoryChannel, tag: str) -> str:
    """The tagged completion line of `tag`."""
    lines = [line for line in channel.replies() if line.startswith(tag + " ")]
    assert lines, f"no reply for {tag}: {channel.replies()}"
    return lines[-1]


def untagged(channel: MemoryChannel, word: str) -> list[str]:
    """Untagged lines whose first word after `* ` (or after a number) is `word`."""
    out = []
    for line in channel.replies():
        parts = line.split(" ")
        if parts[0] != "*" or len(parts) < 2:
            continue
        if parts[1] == word or (len(parts) > 2 and parts[2] == word):
            out.append(line)
    return out
