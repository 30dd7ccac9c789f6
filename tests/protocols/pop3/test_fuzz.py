"""Hypothesis: any bytes as command lines, before and after login, give a response or a clean
close, never an unhandled exception, and the session never answers out of step."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from securemail.services.demo import DemoResult
from tests.protocols.pop3.conftest import Runner, user_pass

VERBS = ["USER", "PASS", "AUTH", "STLS", "CAPA", "STAT", "LIST", "UIDL", "RETR", "TOP", "DELE",
         "RSET", "NOOP", "QUIT", "APOP"]  # fmt: skip
lines = st.one_of(
    st.binary(max_size=600),
    st.builds(
        lambda verb, arg: (verb + " ").encode() + arg,
        st.sampled_from(VERBS),
        st.binary(max_size=40),
    ),
    st.builds(
        lambda verb, nums: " ".join([verb, *map(str, nums)]).encode(),
        st.sampled_from(VERBS),
        st.lists(st.integers(-3, 2**40), max_size=3),
    ),
)
scripts = st.lists(lines, max_size=8).map(lambda ls: b"".join(line + b"\r\n" for line in ls))
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def well_formed(output: bytes) -> bool:
    """Everything the server wrote is CRLF-terminated lines, the first being the greeting."""
    bare = output.replace(b"\r\n", b"")
    return output.startswith(b"+OK ") and output.endswith(b"\r\n") and b"\n" not in bare


@FUZZ
@given(script=scripts)
async def test_any_bytes_before_login(run_pop3: Runner, script: bytes):
    channel = await run_pop3(script + b"QUIT\r\n", tls=False, max_errors=100)
    assert well_formed(bytes(channel.output))


@FUZZ
@given(script=st.binary(max_size=2000))
async def test_any_raw_stream(run_pop3: Runner, script: bytes):
    channel = await run_pop3(script, max_errors=3)
    assert bytes(channel.output).startswith(b"+OK ")


@settings(parent=FUZZ, max_examples=100)
@given(script=scripts)
async def test_any_bytes_after_login(run_pop3: Runner, demo: DemoResult, script: bytes):
    login = user_pass(demo, "bob").encode()
    channel = await run_pop3(login + script, max_errors=100)
    assert well_formed(bytes(channel.output))
