"""Every IMAP limit is a named setting with a safe default: line length, literal size, errors
before disconnect, idle timeout (30 minutes, IDLE included), connections per IP."""

import asyncio
from dataclasses import replace

from securemail.config import ImapSettings, load_settings
from securemail.protocols.imap.server import imap_config, imap_listener
from securemail.services.demo import DemoResult
from securemail.services.registry import Services
from tests.protocols.imap.conftest import Runner, base_config, login_line


def test_defaults_are_safe() -> None:
    imap = ImapSettings()
    assert imap.idle_timeout_seconds >= 30 * 60  # RFC 9051 5.4, RFC 2177
    assert imap.allow_plain_auth is False
    assert imap.max_line_length == 64 * 1024
    assert imap.max_errors == 10 and imap.max_connections_per_ip == 20


def test_settings_come_from_the_environment() -> None:
    env = {
        "SECUREMAIL_IMAP_MAX_LINE_LENGTH": "2000",
        "SECUREMAIL_IMAP_MAX_LITERAL_BYTES": "1000000000",
        "SECUREMAIL_IMAP_ALLOW_PLAIN_AUTH": "true",
        "SECUREMAIL_LIMITS_MAX_MESSAGE_BYTES": "5000",
    }
    settings = load_settings(env=env)
    config = imap_config(settings, None)
    assert config.max_line_length == 2000 and config.allow_plain_auth
    assert config.max_literal_bytes == 5000  # never above the message size limit


async def test_idle_timeout_says_bye_on_a_real_socket(services: Services) -> None:
    config = replace(base_config(), idle_timeout=0.2)
    listener = imap_listener("imap-test", services, config, max_per_ip=2)
    port = await listener.start("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert (await reader.readline()).startswith(b"* OK [CAPABILITY ")
        bye = await asyncio.wait_for(reader.readline(), 10)
        assert bye == b"* BYE autologout: idle for too long\r\n"
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed cleanly
        writer.close()
    finally:
        await listener.stop(grace=1)


async def test_idle_command_ends_at_the_idle_timeout(services: Services, demo: DemoResult) -> None:
    config = replace(base_config(), idle_timeout=0.3, allow_plain_auth=True)
    listener = imap_listener("imap-test", services, config, max_per_ip=2)
    port = await listener.start("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.readline()
        writer.write(login_line(demo, "alice").encode() + b"b IDLE\r\n")
        assert (await reader.readline()).startswith(b"a1 OK")
        assert await reader.readline() == b"+ idling\r\n"
        bye = await asyncio.wait_for(reader.readline(), 10)
        assert bye == b"* BYE autologout: idle for too long\r\n"
        writer.close()
    finally:
        await listener.stop(grace=1)


async def test_long_literal_lines_are_read_whole(run_imap: Runner, demo: DemoResult) -> None:
    body = b"x" * 20_000  # longer than the command line limit, within the literal limit
    raw = b"Subject: long\r\n\r\n" + body + b"\r\n"
    script = login_line(demo, "alice").encode() + (
        b"b APPEND INBOX {%d+}\r\n%s\r\nc SELECT INBOX\r\nd FETCH 1 RFC822.SIZE\r\n"
        % (len(raw), raw)
    )
    ch = await run_imap(script, max_line_length=1000)
    assert f"* 1 FETCH (RFC822.SIZE {len(raw)})" in ch.replies()
