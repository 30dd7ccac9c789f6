"""Named limits: line length, errors before disconnect, idle timeout, connections per IP, and
the [pop3] settings that carry them."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from securemail.config import Pop3Settings, load_settings
from securemail.net.conn import IdleTimeout
from securemail.net.listener import Listener
from securemail.protocols.pop3.server import pop3_config, pop3_listener
from securemail.protocols.pop3.session import MaildropLocks
from securemail.services.demo import DemoResult
from securemail.services.registry import Services
from securemail.wire import sasl
from tests.protocols.memory import MemoryChannel
from tests.protocols.pop3.conftest import Runner, statuses, user_pass


class QuietChannel(MemoryChannel):
    """A client that stops talking once its script is played: the read times out."""

    async def read_line(self, limit: int, timeout: float) -> tuple[bytes, bool]:
        if not self._input:
            raise IdleTimeout
        return await super().read_line(limit, timeout)


def test_settings_defaults_and_overrides():
    defaults = Pop3Settings()
    assert (defaults.port, defaults.tls_port) == (5110, 5995)
    assert defaults.allow_plain_auth is False
    assert defaults.idle_timeout_seconds >= 600  # RFC 1939 3: at least ten minutes
    assert defaults.max_line_length >= 255  # RFC 2449 4
    env = {
        "SECUREMAIL_POP3_ALLOW_PLAIN_AUTH": "yes",
        "SECUREMAIL_POP3_MAX_LINE_LENGTH": "300",
        "SECUREMAIL_POP3_MAX_ERRORS": "3",
        "SECUREMAIL_POP3_IDLE_TIMEOUT_SECONDS": "42",
        "SECUREMAIL_POP3_MAX_CONNECTIONS_PER_IP": "7",
    }
    settings = load_settings(env=env)
    config = pop3_config(settings, None)
    assert (config.max_line_length, config.max_errors, config.idle_timeout) == (300, 3, 42.0)
    assert config.allow_plain_auth is True and settings.pop3.max_connections_per_ip == 7


async def test_an_overlong_line_is_refused_and_the_session_goes_on(run_pop3: Runner):
    channel = await run_pop3("NOOP " + "x" * 100 + "\r\nCAPA\r\nQUIT\r\n", max_line_length=64)
    s = statuses(channel)
    assert s[1] == "-ERR line longer than 64 octets"
    assert s[2] == "+OK capability list follows" and s[3].endswith("signing off")


async def test_an_overlong_sasl_response_is_refused(run_pop3: Runner):
    huge = "A" * (sasl.MAX_SASL_BYTES + 10)
    channel = await run_pop3(f"AUTH PLAIN\r\n{huge}\r\nQUIT\r\n")
    assert statuses(channel)[1:3] == ["+ ", "-ERR authentication response too long"]


async def test_too_many_errors_close_the_connection(run_pop3: Runner):
    channel = await run_pop3("BAD\r\n" * 3 + "CAPA\r\nQUIT\r\n", max_errors=3)
    s = statuses(channel)
    assert s[1:4] == ["-ERR unknown command"] * 3
    assert s[4] == "-ERR too many errors, closing" and len(s) == 5  # CAPA never answered


async def test_failed_logins_count_as_errors(run_pop3: Runner, demo: DemoResult):
    attempt = "USER alice@polres.co.uk\r\nPASS wrong-password\r\n"
    channel = await run_pop3(attempt * 3 + "QUIT\r\n", max_errors=3)
    assert statuses(channel)[-1] == "-ERR too many errors, closing"


async def test_idle_timeout_closes_without_update(run_pop3: Runner, demo: DemoResult):
    script = (user_pass(demo, "dave") + "DELE 1\r\n").encode()
    channel = await run_pop3(b"", channel=QuietChannel(script, is_tls=True))
    assert statuses(channel)[-1] == "-ERR [SYS/TEMP] idle for too long, closing"
    again = await run_pop3(user_pass(demo, "dave") + "STAT\r\nQUIT\r\n")
    assert statuses(again)[3].startswith("+OK 1 ")  # the DELE was not applied


@contextlib.asynccontextmanager
async def serving(services: Services, **overrides: object) -> AsyncIterator[int]:
    settings = load_settings(env={f"SECUREMAIL_POP3_{k.upper()}": str(v)
                                  for k, v in overrides.items()})  # fmt: skip
    listener: Listener = pop3_listener(
        "pop3",
        services,
        pop3_config(settings, None),
        max_per_ip=settings.pop3.max_connections_per_ip,
        locks=MaildropLocks(),
    )
    port = await listener.start("127.0.0.1", 0)
    try:
        yield port
    finally:
        await listener.stop(grace=1)


async def test_real_socket_idle_timeout(services: Services):
    async with serving(services, idle_timeout_seconds=1) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        greeting = await reader.readline()
        last = await asyncio.wait_for(reader.readline(), 10)  # the server speaks first
        assert greeting.startswith(b"+OK")
        assert last == b"-ERR [SYS/TEMP] idle for too long, closing\r\n"
        assert await reader.read() == b""  # and closes
        writer.close()


async def test_connections_per_ip_are_capped(services: Services):
    async with serving(services, max_connections_per_ip=1) as port:
        r1, w1 = await asyncio.open_connection("127.0.0.1", port)
        assert (await r1.readline()).startswith(b"+OK")
        r2, w2 = await asyncio.open_connection("127.0.0.1", port)
        refusal = await r2.readline()
        assert refusal == b"-ERR [SYS/TEMP] too many connections from your address\r\n"
        assert await r2.read() == b""
        w1.write(b"QUIT\r\n")
        assert (await r1.readline()).startswith(b"+OK")
        for w in (w1, w2):
            w.close()


async def test_a_line_longer_than_the_stream_buffer_stays_bounded(services: Services):
    async with serving(services) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.readline()
        writer.write(b"NOOP " + b"x" * 200_000 + b"\r\nCAPA\r\n")
        assert await reader.readline() == b"-ERR line longer than 512 octets\r\n"
        assert await reader.readline() == b"+OK capability list follows\r\n"
        writer.close()


@pytest.mark.parametrize("blob", [b"\xff\xfe\r\n", b"\x00\r\n", b"\r\n", b" \r\n"])
async def test_garbage_lines_get_an_error_not_a_crash(run_pop3: Runner, blob: bytes):
    channel = await run_pop3(blob + b"QUIT\r\n")
    assert statuses(channel)[1].startswith("-ERR") and statuses(channel)[2].startswith("+OK")
