"""Transcripts of STARTTLS (RFC 3207) and AUTH PLAIN/LOGIN (RFC 4954)."""

import base64

from securemail.services.demo import DemoResult
from tests.protocols.smtp.conftest import Runner


def plain(user: str, password: str, authzid: str = "") -> str:
    return base64.b64encode(f"{authzid}\0{user}\0{password}".encode()).decode()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def test_starttls_resets_the_session_and_requires_a_new_ehlo(run_smtp: Runner):
    channel = await run_smtp(
        "EHLO a.example\r\nSTARTTLS\r\nMAIL FROM:<x@a.example>\r\nEHLO a.example\r\nQUIT\r\n"
    )
    lines = channel.replies()
    assert any(line.startswith("220 2.0.0") for line in lines)
    assert channel.is_tls
    codes = channel.codes()
    assert codes[2] == 220 and codes[3] == 503  # MAIL before the new EHLO
    assert any("AUTH PLAIN LOGIN" in line for line in lines)


async def test_starttls_twice_is_refused(run_smtp: Runner):
    channel = await run_smtp("EHLO a.example\r\nSTARTTLS\r\nSTARTTLS\r\nQUIT\r\n")
    assert channel.codes()[-2] == 503


async def test_auth_refused_before_tls(run_smtp: Runner, demo: DemoResult):
    password = demo.passwords["carol@polres.co.uk"]
    channel = await run_smtp(
        f"EHLO a.example\r\nAUTH PLAIN {plain('carol@polres.co.uk', password)}\r\nQUIT\r\n"
    )
    assert channel.replies()[-2].startswith("530 5.7.0")


async def test_auth_plain_good_and_bad(run_smtp: Runner, demo: DemoResult):
    password = demo.passwords["carol@polres.co.uk"]
    good = await run_smtp(
        f"EHLO a.example\r\nAUTH PLAIN {plain('carol@polres.co.uk', password)}\r\nQUIT\r\n",
        tls=True,
    )
    assert any(line.startswith("235 2.7.0") for line in good.replies())
    bad = await run_smtp(
        f"EHLO a.example\r\nAUTH PLAIN {plain('carol@polres.co.uk', 'wrong-pass')}\r\nQUIT\r\n",
        tls=True,
    )
    assert any(line.startswith("535 5.7.8") for line in bad.replies())
    unknown = await run_smtp(
        f"EHLO a.example\r\nAUTH PLAIN {plain('nobody@polres.co.uk', 'wrong-pass')}\r\nQUIT\r\n",
        tls=True,
    )
    assert [r for r in unknown.replies() if r.startswith("535")] == [
        r for r in bad.replies() if r.startswith("535")
    ]


async def test_auth_plain_with_a_foreign_authzid_is_refused(run_smtp: Runner, demo: DemoResult):
    password = demo.passwords["carol@polres.co.uk"]
    creds = plain("carol@polres.co.uk", password, authzid="dave@polres.co.uk")
    channel = await run_smtp(f"EHLO a.example\r\nAUTH PLAIN {creds}\r\nQUIT\r\n", tls=True)
    assert any(line.startswith("535") for line in channel.replies())


async def test_auth_login_and_plain_without_initial_response(run_smtp: Runner, demo: DemoResult):
    password = demo.passwords["bob@polres.co.uk"]
    login = await run_smtp(
        f"EHLO a.example\r\nAUTH LOGIN\r\n{b64('bob@polres.co.uk')}\r\n{b64(password)}\r\nQUIT\r\n",
        tls=True,
    )
    lines = login.replies()
    assert "334 VXNlcm5hbWU6" in lines and "334 UGFzc3dvcmQ6" in lines
    assert any(line.startswith("235") for line in lines)
    two_step = await run_smtp(
        f"EHLO a.example\r\nAUTH PLAIN\r\n{plain('bob@polres.co.uk', password)}\r\nQUIT\r\n",
        tls=True,
    )
    assert "334 " in two_step.replies()
    assert any(line.startswith("235") for line in two_step.replies())


async def test_auth_cancel_bad_base64_unknown_mechanism(run_smtp: Runner, demo: DemoResult):
    channel = await run_smtp(
        "EHLO a.example\r\nAUTH LOGIN\r\n*\r\nAUTH PLAIN !!!\r\nAUTH CRAM-MD5\r\nQUIT\r\n",
        tls=True,
    )
    assert channel.codes()[2:6] == [334, 501, 501, 504]


async def test_second_auth_is_refused(run_smtp: Runner, demo: DemoResult):
    creds = plain("bob@polres.co.uk", demo.passwords["bob@polres.co.uk"])
    channel = await run_smtp(
        f"EHLO a.example\r\nAUTH PLAIN {creds}\r\nAUTH PLAIN {creds}\r\nQUIT\r\n", tls=True
    )
    assert channel.codes()[2:4] == [235, 503]
