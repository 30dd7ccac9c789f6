"""IMAP transcripts: greeting, CAPABILITY, STARTTLS, LOGIN, AUTHENTICATE, ID, ENABLE, NAMESPACE,
framing of literals and pipelined commands, bad syntax and limits."""

import base64

import pyotp

from securemail.services.demo import DemoResult
from securemail.services.registry import Services
from tests.protocols.imap.conftest import GROUP, Runner, login_line, tagged, untagged


async def test_greeting_offers_starttls_and_disables_login_in_clear(run_imap: Runner) -> None:
    ch = await run_imap("a CAPABILITY\r\nb LOGOUT\r\n", tls=False)
    greeting = ch.replies()[0]
    assert greeting.startswith("* OK [CAPABILITY IMAP4rev1")
    caps = untagged(ch, "CAPABILITY")[0]
    assert "STARTTLS" in caps and "LOGINDISABLED" in caps and "AUTH=PLAIN" not in caps
    assert tagged(ch, "a").startswith("a OK")
    assert untagged(ch, "BYE") and tagged(ch, "b").startswith("b OK")


async def test_login_in_clear_is_refused_without_checking(
    run_imap: Runner, demo: DemoResult
) -> None:
    ch = await run_imap(login_line(demo, "alice"), tls=False)
    assert tagged(ch, "a1").startswith("a1 NO [PRIVACYREQUIRED]")


async def test_allow_plain_auth_switch(run_imap: Runner, demo: DemoResult) -> None:
    ch = await run_imap(login_line(demo, "alice"), tls=False, allow_plain_auth=True)
    assert tagged(ch, "a1").startswith("a1 OK [CAPABILITY IMAP4rev1")


async def test_starttls_then_login(run_imap: Runner, demo: DemoResult) -> None:
    ch = await run_imap("s STARTTLS\r\nc CAPABILITY\r\n" + login_line(demo, "bob"), tls=False)
    assert ch.tls_started == 1
    assert tagged(ch, "s") == "s OK begin TLS negotiation now"
    assert "AUTH=PLAIN" in untagged(ch, "CAPABILITY")[0]
    assert tagged(ch, "a1").startswith("a1 OK")


async def test_starttls_twice_is_bad(run_imap: Runner) -> None:
    ch = await run_imap("s STARTTLS\r\n", tls=True)
    assert tagged(ch, "s").startswith("s BAD")


async def test_wrong_password_and_unknown_user_fail_alike(run_imap: Runner) -> None:
    script = 'a LOGIN alice@polres.co.uk "wrong-password"\r\nb LOGIN nobody@polres.co.uk x\r\n'
    ch = await run_imap(script)
    assert tagged(ch, "a") == "a NO [AUTHENTICATIONFAILED] authentication failed"
    assert tagged(ch, "b") == "b NO [AUTHENTICATIONFAILED] authentication failed"


async def test_group_login_for_a_user_without_read_fails_like_a_wrong_password(
    run_imap: Runner, demo: DemoResult
) -> None:
    ch = await run_imap(login_line(demo, "erin", group=True))
    assert tagged(ch, "a1") == "a1 NO [AUTHENTICATIONFAILED] authentication failed"


async def test_login_with_synchronising_literals(run_imap: Runner, demo: DemoResult) -> None:
    user = b"alice@polres.co.uk"
    password = demo.passwords["alice@polres.co.uk"].encode()
    script = b"a LOGIN {%d}\r\n%s {%d}\r\n%s\r\n" % (len(user), user, len(password), password)
    ch = await run_imap(script)
    assert ch.replies().count("+ ready for literal data") == 2
    assert tagged(ch, "a").startswith("a OK")


async def test_login_with_non_synchronising_literals(run_imap: Runner, demo: DemoResult) -> None:
    user = b"alice@polres.co.uk"
    password = demo.passwords["alice@polres.co.uk"].encode()
    script = b"a LOGIN {%d+}\r\n%s {%d+}\r\n%s\r\n" % (len(user), user, len(password), password)
    ch = await run_imap(script)
    assert "+ ready for literal data" not in ch.replies()
    assert tagged(ch, "a").startswith("a OK")


def _plain(user: str, password: str, authzid: str = "") -> str:
    return base64.b64encode(f"{authzid}\0{user}\0{password}".encode()).decode()


async def test_authenticate_plain_with_initial_response(run_imap: Runner, demo: DemoResult) -> None:
    response = _plain("carol@polres.co.uk", demo.passwords["carol@polres.co.uk"])
    ch = await run_imap(f"a AUTHENTICATE PLAIN {response}\r\n")
    assert tagged(ch, "a").startswith("a OK")


async def test_authenticate_plain_after_continuation(run_imap: Runner, demo: DemoResult) -> None:
    login = f"carol@polres.co.uk#{GROUP}"
    response = _plain(login, demo.passwords["carol@polres.co.uk"])
    ch = await run_imap(f'a AUTHENTICATE PLAIN\r\n{response}\r\nb LIST "" "*"\r\n')
    assert "+ " in ch.replies()
    assert tagged(ch, "a").startswith("a OK")
    names = [line.rsplit(" ", 1)[1] for line in untagged(ch, "LIST")]
    assert names == ['"INBOX"', '"Sent"', '"Drafts"', '"Trash"']  # the group as the account


async def test_authenticate_cancel_and_garbage(run_imap: Runner) -> None:
    ch = await run_imap(
        "a AUTHENTICATE PLAIN\r\n*\r\nb AUTHENTICATE PLAIN !!!\r\nc AUTHENTICATE X\r\n"
    )
    assert tagged(ch, "a").startswith("a BAD")
    assert tagged(ch, "b").startswith("b BAD")
    assert tagged(ch, "c").startswith("c NO")


async def test_id_enable_namespace(run_imap: Runner, demo: DemoResult) -> None:
    script = login_line(demo, "alice") + (
        'b ID ("name" "test" "version" NIL)\r\nc ENABLE CONDSTORE UTF8=ACCEPT X-UNKNOWN\r\n'
        "d NAMESPACE\r\ne ID NIL\r\n"
    )
    ch = await run_imap(script)
    assert untagged(ch, "ID")[0].startswith('* ID ("name" "securemail"')
    assert untagged(ch, "ENABLED") == ["* ENABLED CONDSTORE UTF8=ACCEPT"]
    assert untagged(ch, "NAMESPACE") == ['* NAMESPACE (("" "/")) NIL (("Shared/" "/"))']
    assert all(tagged(ch, t).startswith(f"{t} OK") for t in "bcde")


async def test_group_login_has_no_shared_namespace(run_imap: Runner, demo: DemoResult) -> None:
    ch = await run_imap(login_line(demo, "alice", group=True) + "b NAMESPACE\r\n")
    assert untagged(ch, "NAMESPACE") == ['* NAMESPACE (("" "/")) NIL NIL']


async def test_pipelined_commands_answer_in_order(run_imap: Runner, demo: DemoResult) -> None:
    script = login_line(demo, "bob") + "".join(f"p{i} NOOP\r\n" for i in range(20))
    ch = await run_imap(script)
    tags = [line.split(" ")[0] for line in ch.replies() if line.startswith("p")]
    assert tags == [f"p{i}" for i in range(20)]


async def test_commands_need_the_right_state(run_imap: Runner, demo: DemoResult) -> None:
    ch = await run_imap(
        "a SELECT INBOX\r\nb FETCH 1 FLAGS\r\n"
        + login_line(demo, "alice", tag="c")
        + "d FETCH 1 FLAGS\r\ne LOGIN x y\r\n"
    )
    assert tagged(ch, "a").startswith("a BAD")
    assert tagged(ch, "b").startswith("b BAD")
    assert tagged(ch, "d").startswith("d BAD")
    assert tagged(ch, "e").startswith("e BAD")


async def test_bad_syntax_gets_bad_never_a_crash(run_imap: Runner) -> None:
    script = 'a LOGIN "unterminated\r\nb NOOP extra\r\nc FROB\r\n(weird\r\nd LOGIN a b c\r\n'
    ch = await run_imap(script, max_errors=50)
    assert tagged(ch, "a").startswith("a BAD")
    assert tagged(ch, "b").startswith("b BAD")
    assert tagged(ch, "c").startswith("c BAD")
    assert any(line.startswith("* BAD") for line in ch.replies())
    assert tagged(ch, "d").startswith("d BAD")


async def test_too_many_errors_say_bye(run_imap: Runner) -> None:
    ch = await run_imap("".join(f"t{i} FROB\r\n" for i in range(10)), max_errors=3)
    assert ch.replies()[-1] == "* BYE too many errors"
    assert sum(1 for line in ch.replies() if " BAD " in line) == 3


async def test_over_long_line_closes_cleanly(run_imap: Runner) -> None:
    ch = await run_imap("a NOOP " + "x" * 9000 + "\r\nb NOOP\r\n", max_line_length=8192)
    assert ch.replies()[-1] == "* BYE line too long"
    assert not any(line.startswith("b ") for line in ch.replies())


async def test_too_large_synchronising_literal_is_refused(
    run_imap: Runner, demo: DemoResult
) -> None:
    script = login_line(demo, "alice") + "b APPEND INBOX {200000}\r\nc NOOP\r\n"
    ch = await run_imap(script)
    assert tagged(ch, "b") == "b NO [TOOBIG] literal too large"
    assert "+ ready for literal data" not in ch.replies()
    assert tagged(ch, "c").startswith("c OK")


async def test_too_large_non_synchronising_literal_closes(
    run_imap: Runner, demo: DemoResult
) -> None:
    script = login_line(demo, "alice") + "b APPEND INBOX {200000+}\r\n" + "x" * 100 + "\r\n"
    ch = await run_imap(script)
    assert ch.replies()[-1] == "* BYE literal too large"


async def test_literal_before_login_is_bounded_by_the_line_limit(run_imap: Runner) -> None:
    ch = await run_imap("a LOGIN {100000}\r\n", max_line_length=1000)
    assert tagged(ch, "a") == "a NO [TOOBIG] literal too large"


async def test_utf7_and_utf8_mailbox_names(run_imap: Runner, demo: DemoResult) -> None:
    script = login_line(demo, "bob") + (
        'b CREATE Caf&AOk-\r\nc LIST "" Caf*\r\nd ENABLE UTF8=ACCEPT\r\ne LIST "" Caf*\r\n'
    )
    ch = await run_imap(script)
    assert tagged(ch, "b").startswith("b OK")
    lists = untagged(ch, "LIST")
    assert lists[0].endswith('"Caf&AOk-"')
    assert lists[1].endswith('"Café"')


async def test_with_a_second_factor_only_an_imap_app_password_logs_in(
    run_imap: Runner, services: Services, demo: DemoResult
) -> None:
    address = "bob@polres.co.uk"
    ctx = await services.auth.authenticate(address, demo.passwords[address], channel="test")
    credentials = services.credentials
    secret, _uri = credentials.begin_totp(ctx)
    await credentials.confirm_totp(ctx, secret, pyotp.TOTP(secret).now())
    imap_only = await credentials.create_app_password(ctx, address, "phone", "imap")
    pop_only = await credentials.create_app_password(ctx, address, "old client", "pop3")
    script = (
        f'a LOGIN {address} "{demo.passwords[address]}"\r\n'
        f'b LOGIN {address} "{pop_only}"\r\n'
        f'c LOGIN "{address}#{GROUP}" "{imap_only}"\r\n'
    )
    ch = await run_imap(script)
    assert tagged(ch, "a") == "a NO [AUTHENTICATIONFAILED] authentication failed"
    assert tagged(ch, "b") == "b NO [AUTHENTICATIONFAILED] authentication failed"
    assert tagged(ch, "c").startswith("c OK")
