"""Transcripts of the session commands: greeting, EHLO/HELO, NOOP, RSET, VRFY, HELP, QUIT,
and the per-session limits (errors, commands without mail, line length, bare LF)."""

from tests.protocols.smtp.conftest import Runner


async def test_greeting_and_ehlo_offer_extensions_but_no_auth_before_tls(run_smtp: Runner):
    channel = await run_smtp("EHLO client.example\r\nQUIT\r\n")
    lines = channel.replies()
    assert lines[0].startswith("220 mail.polres.co.uk ESMTP")
    ehlo = [line[4:] for line in lines[1:] if line.startswith("250")]
    assert ehlo[0].startswith("mail.polres.co.uk greets client.example")
    for keyword in ("PIPELINING", "SIZE 100000", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"):
        assert keyword in ehlo
    assert "STARTTLS" in ehlo
    assert not any(k.startswith("AUTH") for k in ehlo)
    assert lines[-1].startswith("221 2.0.0")


async def test_ehlo_over_tls_offers_auth_and_not_starttls(run_smtp: Runner):
    channel = await run_smtp("EHLO client.example\r\nQUIT\r\n", tls=True)
    ehlo = [line[4:] for line in channel.replies() if line.startswith("250")]
    assert "AUTH PLAIN LOGIN" in ehlo
    assert "STARTTLS" not in ehlo


async def test_helo_noop_rset_vrfy_help(run_smtp: Runner):
    channel = await run_smtp(
        "HELO client.example\r\nNOOP\r\nRSET\r\nVRFY alice\r\nHELP\r\nQUIT\r\n"
    )
    assert channel.codes() == [220, 250, 250, 250, 252, 214, 221]


async def test_ehlo_without_a_name_is_a_syntax_error(run_smtp: Runner):
    channel = await run_smtp("EHLO\r\nQUIT\r\n")
    assert channel.replies()[1].startswith("501 5.5.4")


async def test_unknown_command_and_garbage(run_smtp: Runner):
    channel = await run_smtp("FROB x\r\n\xff\xfe\r\n1234\r\nQUIT\r\n".encode("latin-1"))
    assert channel.codes() == [220, 500, 500, 500, 221]


async def test_too_many_errors_close_the_session(run_smtp: Runner):
    script = "FROB\r\n" * 10 + "QUIT\r\n"
    channel = await run_smtp(script, max_errors=3)
    codes = channel.codes()
    assert codes == [220, 500, 500, 500, 421]
    assert "too many errors" in channel.replies()[-1]


async def test_too_many_commands_without_mail_close_the_session(run_smtp: Runner):
    channel = await run_smtp("EHLO a.example\r\n" + "NOOP\r\n" * 20, max_commands_before_mail=4)
    assert channel.codes()[-1] == 421
    assert channel.codes().count(250) == 5


async def test_overlong_command_line_is_refused_and_the_session_goes_on(run_smtp: Runner):
    channel = await run_smtp("NOOP " + "x" * 5000 + "\r\nNOOP\r\nQUIT\r\n")
    assert channel.codes() == [220, 500, 250, 221]
    assert "line too long" in channel.replies()[1]


async def test_bare_lf_in_a_command_is_refused(run_smtp: Runner):
    channel = await run_smtp("EHLO a.example\nNOOP\r\nQUIT\r\n")
    assert channel.codes() == [220, 500, 250, 221]
    assert "bare CR or LF" in channel.replies()[1]


async def test_connection_closed_by_client_ends_quietly(run_smtp: Runner):
    channel = await run_smtp("EHLO a.example\r\n")
    assert channel.codes() == [220, 250]
