"""Fixtures for POP3 transcripts: the demo organisation, logins and a session runner."""

import base64
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest

from securemail.core.context import AccessContext
from securemail.protocols.pop3.session import MaildropLocks, Pop3Config, Session
from securemail.services.demo import DEMO_GROUP, DemoResult, load_demo
from securemail.services.registry import Services
from tests.protocols.memory import MemoryChannel

Runner = Callable[..., Awaitable[MemoryChannel]]
DOMAIN = "polres.co.uk"


@pytest.fixture
async def demo(services: Services, system: AccessContext) -> DemoResult:
    return await load_demo(services, system)


def base_config() -> Pop3Config:
    return Pop3Config(
        hostname="mail.polres.co.uk",
        max_line_length=512,
        max_errors=5,
        idle_timeout=5.0,
        tls=ssl.create_default_context(ssl.Purpose.CLIENT_AUTH),
        allow_plain_auth=False,
    )


@pytest.fixture
def run_pop3(services: Services) -> Runner:
    """Play `script` (str, CRLF line ends) against a session; return the channel."""

    async def run(
        script: str | bytes,
        *,
        tls: bool = True,
        channel: MemoryChannel | None = None,
        locks: MaildropLocks | None = None,
        **overrides: object,
    ) -> MemoryChannel:
        data = script.encode() if isinstance(script, str) else script
        chan = channel if channel is not None else MemoryChannel(data, is_tls=tls)
        config = replace(base_config(), **overrides)  # type: ignore[arg-type]
        await Session(chan, services, config, locks).run()
        return chan

    return run


def address(name: str) -> str:
    return f"{name}@{DOMAIN}"


def group_login(name: str) -> str:
    return f"{address(name)}#{DEMO_GROUP}"


def user_pass(demo: DemoResult, name: str, group: bool = True) -> str:
    """USER/PASS lines for a demo user, opening the group mailbox or their own Inbox."""
    login = group_login(name) if group else address(name)
    return f"USER {login}\r\nPASS {demo.passwords[address(name)]}\r\n"


def plain(user: str, password: str, authzid: str = "") -> str:
    return base64.b64encode(f"{authzid}\0{user}\0{password}".encode()).decode()


def statuses(channel: MemoryChannel) -> list[str]:
    """The status line of each reply, in order (+OK/-ERR lines; multi-line bodies skipped)."""
    out: list[str] = []
    inside = False
    for line in channel.replies():
        if inside:
            inside = line != "."
            continue
        if line.startswith(("+OK", "-ERR", "+ ")) or line == "+":
            out.append(line)
            inside = line.startswith("+OK") and _is_multiline(line)
    return out


_MULTI = ("capability list follows", "messages (", "unique-id listing", "message follows",
          "top of message follows", "SASL mechanisms follow")  # fmt: skip


def _is_multiline(line: str) -> bool:
    return any(marker in line for marker in _MULTI) and not line.startswith("+OK maildrop")
