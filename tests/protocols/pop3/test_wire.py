"""The sans-IO codec of wire/pop3: command parsing, byte-stuffing, TOP, replies."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from securemail.wire import pop3


@pytest.mark.parametrize(
    ("line", "verb", "arg"),
    [
        (b"stat", "STAT", ""),
        (b"TOP 1 10", "TOP", "1 10"),
        (b"PASS correct horse battery", "PASS", "correct horse battery"),
        (b"USER alice@polres.co.uk#GM.ZeroTolerance@polres.co.uk", "USER",
         "alice@polres.co.uk#GM.ZeroTolerance@polres.co.uk"),
        ("PASS pässwörd".encode(), "PASS", "pässwörd"),
    ],
)  # fmt: skip
def test_parse_command(line: bytes, verb: str, arg: str):
    command = pop3.parse_command(line)
    assert (command.verb, command.arg) == (verb, arg)


@pytest.mark.parametrize(
    "line", [b"", b"ST", b"STATS", b"ST4T", b"\xff", b"NOOP\x00", b"NOOP\x1b[0m", b" STAT"]
)
def test_parse_command_refuses(line: bytes):
    with pytest.raises(pop3.Pop3SyntaxError):
        pop3.parse_command(line)


@pytest.mark.parametrize("text", ["", "-1", "1.0", "\u0661", "²", "12345678901", "+1"])
def test_parse_number_refuses(text: str):
    with pytest.raises(pop3.Pop3SyntaxError):
        pop3.parse_number(text)


def test_replies_carry_response_codes_and_no_line_breaks():
    assert pop3.err("authentication failed", pop3.AUTH) == b"-ERR [AUTH] authentication failed\r\n"
    assert pop3.err("a\r\nb") == b"-ERR a  b\r\n"
    assert pop3.ok() == b"+OK\r\n"


def test_retr_stuffs_dots_and_normalises_line_ends():
    raw = b"Subject: x\r\n\r\n.\r\n..two\nlast"
    assert pop3.retr_response(raw) == (
        b"+OK message follows\r\nSubject: x\r\n\r\n..\r\n...two\r\nlast\r\n.\r\n"
    )


def test_top_of_a_message_without_body():
    assert pop3.top_response(b"Subject: x\r\n", 5) == (
        b"+OK top of message follows\r\nSubject: x\r\n.\r\n"
    )


def test_capabilities_follow_the_state():
    before = pop3.capabilities(stls=True, user=False, sasl=False, implementation="x")
    assert "STLS" in before and "USER" not in before
    after = pop3.capabilities(stls=False, user=True, sasl=True, implementation="x")
    assert {"USER", "SASL PLAIN"} <= set(after) and "STLS" not in after


@given(st.binary(max_size=500))
def test_any_message_survives_stuffing(raw: bytes):
    """Un-stuffing the RETR body gives back the message's lines (RFC 1939 section 3)."""
    body = pop3.retr_response(raw).split(b"\r\n", 1)[1]
    assert body.endswith(b"\r\n.\r\n") or body == b".\r\n"
    lines = body[:-3].split(b"\r\n")[:-1] if body != b".\r\n" else []
    unstuffed = [line[1:] if line.startswith(b".") else line for line in lines]
    expected = raw.split(b"\n")
    if expected[-1] == b"":
        expected.pop()
    assert unstuffed == [e[:-1] if e.endswith(b"\r") else e for e in expected]


def test_unique_id_grammar():
    assert pop3.is_unique_id("1764201600.42")
    assert not pop3.is_unique_id("") and not pop3.is_unique_id("a b")
    assert not pop3.is_unique_id("x" * 71)
