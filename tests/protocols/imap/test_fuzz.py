"""Hypothesis: any bytes as command lines, before and after login, give a tagged or untagged
response or a clean close, never an unhandled exception."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from securemail.services.demo import DemoResult
from tests.protocols.imap.conftest import Runner, login_line

VERBS = ["LOGIN", "AUTHENTICATE", "SELECT", "EXAMINE", "LIST", "LSUB", "STATUS", "FETCH",
         "UID FETCH", "STORE", "SEARCH", "UID SEARCH", "COPY", "MOVE", "APPEND", "EXPUNGE",
         "CREATE", "RENAME", "DELETE", "SETACL", "GETACL", "MYRIGHTS", "ENABLE", "ID", "IDLE",
         "NAMESPACE", "UID EXPUNGE", "STARTTLS", "CLOSE", "UNSELECT"]  # fmt: skip
ARGS = ["1", "1:*", "*", "INBOX", '"Shared/GM.ZeroTolerance@polres.co.uk/INBOX"', "(", ")",
        "{3}", "{2+}", "BODY[HEADER.FIELDS (A)]<0.5>", "(FLAGS)", "\\Seen", "NIL", '""', "%",
        "RETURN", "(CHANGEDSINCE 1)", "OR", "NOT", "TEXT", "x", "lrs", "+FLAGS", "0",
        "4294967296"]  # fmt: skip
lines = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda tag, verb, args: f"{tag} {verb} {' '.join(args)}".encode(),
        st.sampled_from(["a", "b1", "*", "+", ""]),
        st.sampled_from(VERBS),
        st.lists(st.sampled_from(ARGS), max_size=6),
    ),
    st.builds(
        lambda verb, raw: ("t " + verb + " ").encode() + raw,
        st.sampled_from(VERBS),
        st.binary(max_size=40),
    ),
)
scripts = st.lists(lines, max_size=8).map(lambda ls: b"".join(line + b"\r\n" for line in ls))
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def well_formed(output: bytes) -> bool:
    return output.startswith(b"* OK [CAPABILITY ") and output.endswith(b"\r\n")


@FUZZ
@given(script=scripts)
async def test_any_bytes_before_login(run_imap: Runner, script: bytes) -> None:
    channel = await run_imap(script + b"z LOGOUT\r\n", tls=False, max_errors=100)
    assert well_formed(bytes(channel.output))


@FUZZ
@given(script=st.binary(max_size=2000))
async def test_any_raw_stream(run_imap: Runner, script: bytes) -> None:
    channel = await run_imap(script, max_errors=3)
    assert bytes(channel.output).startswith(b"* OK [CAPABILITY ")


@settings(parent=FUZZ, max_examples=100)
@given(script=scripts)
async def test_any_bytes_after_login(run_imap: Runner, demo: DemoResult, script: bytes) -> None:
    selected = (
        login_line(demo, "dave") + 'b SELECT "Shared/GM.ZeroTolerance@polres.co.uk/INBOX"\r\n'
    )
    channel = await run_imap(selected.encode() + script, max_errors=100)
    assert well_formed(bytes(channel.output))
