"""Transcripts of the AUTHORIZATION state: greeting, CAPA, STLS, USER/PASS and AUTH PLAIN."""

import re

from securemail.core.context import AccessContext
from securemail.protocols.pop3.session import MaildropLocks
from securemail.services.demo import DEMO_GROUP, DemoResult
from securemail.services.registry import Services
from tests.protocols.pop3.conftest import (
    Runner,
    address,
    group_login,
    plain,
    statuses,
    user_pass,
)

FAILED = "-ERR [AUTH] authentication failed"


async def test_greeting_has_no_apop_timestamp(run_pop3: Runner):
    channel = await run_pop3("QUIT\r\n")
    greeting = channel.replies()[0]
    assert greeting.startswith("+OK ") and not re.search(r"<[^>]*@[^>]*>", greeting)
    assert statuses(channel)[-1].startswith("+OK")


async def test_capa_before_tls_offers_stls_but_no_credentials(run_pop3: Runner):
    channel = await run_pop3("CAPA\r\nQUIT\r\n", tls=False)
    caps = channel.replies()[2:-2]
    assert channel.replies()[-2] == "."
    for cap in ("TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "STLS"):
        assert cap in caps
    assert "USER" not in caps and "SASL PLAIN" not in caps
    assert "IMPLEMENTATION securemail" in caps


async def test_capa_over_tls_offers_user_and_sasl_plain_and_no_stls(run_pop3: Runner):
    channel = await run_pop3("CAPA\r\nQUIT\r\n", tls=True)
    caps = channel.replies()[2:-2]
    assert "USER" in caps and "SASL PLAIN" in caps and "STLS" not in caps


async def test_credentials_are_refused_before_tls(run_pop3: Runner, demo: DemoResult):
    script = user_pass(demo, "alice", group=False) + f"AUTH PLAIN {plain('a', 'b')}\r\nQUIT\r\n"
    channel = await run_pop3(script, tls=False)
    refused = [s for s in statuses(channel) if s.startswith("-ERR [AUTH] credentials")]
    assert len(refused) == 3  # USER, PASS and AUTH alike


async def test_loopback_switch_allows_plain_credentials(run_pop3: Runner, demo: DemoResult):
    script = user_pass(demo, "alice", group=False) + "QUIT\r\n"
    channel = await run_pop3(script, tls=False, allow_plain_auth=True)
    assert statuses(channel)[2].startswith("+OK maildrop has 0 messages")


async def test_stls_upgrades_resets_user_and_is_refused_twice(run_pop3: Runner, demo: DemoResult):
    password = demo.passwords[address("alice")]
    script = f"USER x\r\nSTLS\r\nPASS {password}\r\nSTLS\r\nCAPA\r\nQUIT\r\n"
    channel = await run_pop3(script, tls=False)
    s = statuses(channel)
    assert channel.tls_started == 1 and channel.is_tls
    assert s[1].startswith("-ERR [AUTH]")  # USER before TLS
    assert s[2] == "+OK begin TLS negotiation"
    assert s[3] == "-ERR send USER first"  # nothing learnt before TLS survives
    assert s[4].startswith("-ERR TLS is already active")
    assert "STLS" not in channel.replies()


async def test_user_pass_opens_the_personal_inbox(run_pop3: Runner, demo: DemoResult):
    channel = await run_pop3(user_pass(demo, "alice", group=False) + "STAT\r\nQUIT\r\n")
    assert statuses(channel)[1:4] == ["+OK send PASS", "+OK maildrop has 0 messages (0 octets)",
                                     "+OK 0 0"]  # fmt: skip


async def test_group_login_form_opens_the_group_inbox(run_pop3: Runner, demo: DemoResult):
    channel = await run_pop3(user_pass(demo, "alice") + "STAT\r\nQUIT\r\n")
    s = statuses(channel)
    assert s[2].startswith("+OK maildrop has 1 messages")
    assert s[3].startswith("+OK 1 ")


async def test_every_login_failure_looks_the_same(run_pop3: Runner, demo: DemoResult):
    alice = demo.passwords[address("alice")]
    erin = demo.passwords[address("erin")]
    attempts = [
        f"USER {address('alice')}\r\nPASS wrong-password\r\n",
        f"USER nobody@polres.co.uk\r\nPASS {alice}\r\n",
        f"USER {address('erin')}#{DEMO_GROUP}\r\nPASS {erin}\r\n",  # erin: no Read
        f"USER {address('alice')}#nogroup@polres.co.uk\r\nPASS {alice}\r\n",
        f"USER {address('alice')}#{address('bob')}\r\nPASS {alice}\r\n",  # bob's own mailbox
    ]
    for attempt in attempts:
        channel = await run_pop3(attempt + "QUIT\r\n")
        assert statuses(channel)[2] == FAILED, attempt


async def test_pass_without_user_and_bad_user_syntax(run_pop3: Runner):
    channel = await run_pop3("PASS secret\r\nUSER\r\nUSER a b\r\nQUIT\r\n")
    s = statuses(channel)
    assert s[1] == "-ERR send USER first"
    assert s[2] == s[3] == "-ERR syntax: USER name"


async def test_pass_keeps_spaces_in_the_password(
    run_pop3: Runner, services: Services, system: AccessContext, demo: DemoResult
):
    await services.directory.reset_password(system, address("bob"), "correct horse battery")
    channel = await run_pop3(f"USER {address('bob')}\r\nPASS correct horse battery\r\nQUIT\r\n")
    assert statuses(channel)[2].startswith("+OK maildrop has 0 messages")


async def test_an_app_password_for_pop3_opens_the_group(
    run_pop3: Runner, services: Services, system: AccessContext, demo: DemoResult
):
    pop3_only = await services.credentials.create_app_password(
        system, address("bob"), "phone", "pop3"
    )
    imap_only = await services.credentials.create_app_password(
        system, address("bob"), "laptop", "imap"
    )
    good = await run_pop3(f"USER {group_login('bob')}\r\nPASS {pop3_only}\r\nQUIT\r\n")
    assert statuses(good)[2].startswith("+OK maildrop has 1 messages")
    bad = await run_pop3(f"USER {group_login('bob')}\r\nPASS {imap_only}\r\nQUIT\r\n")
    assert statuses(bad)[2] == FAILED


async def test_auth_lists_mechanisms_and_refuses_unknown_ones(run_pop3: Runner):
    channel = await run_pop3("AUTH\r\nAUTH CRAM-MD5\r\nQUIT\r\n")
    assert channel.replies()[1:4] == ["+OK SASL mechanisms follow", "PLAIN", "."]
    assert statuses(channel)[2] == "-ERR unsupported authentication mechanism"


async def test_auth_plain_with_initial_response(run_pop3: Runner, demo: DemoResult):
    creds = plain(address("bob"), demo.passwords[address("bob")])
    channel = await run_pop3(f"AUTH PLAIN {creds}\r\nSTAT\r\nQUIT\r\n")
    assert statuses(channel)[1].startswith("+OK maildrop has 0 messages")


async def test_auth_plain_with_continuation(run_pop3: Runner, demo: DemoResult):
    creds = plain(f"{address('bob')}#{DEMO_GROUP}", demo.passwords[address("bob")])
    channel = await run_pop3(f"AUTH PLAIN\r\n{creds}\r\nQUIT\r\n")
    s = statuses(channel)
    assert s[1] == "+ " and s[2].startswith("+OK maildrop has 1 messages")


async def test_auth_plain_authzid_names_the_group(run_pop3: Runner, demo: DemoResult):
    creds = plain(address("carol"), demo.passwords[address("carol")], authzid=DEMO_GROUP)
    channel = await run_pop3(f"AUTH PLAIN {creds}\r\nQUIT\r\n")
    assert statuses(channel)[1].startswith("+OK maildrop has 1 messages")
    erin = plain(address("erin"), demo.passwords[address("erin")], authzid=DEMO_GROUP)
    channel = await run_pop3(f"AUTH PLAIN {erin}\r\nQUIT\r\n")
    assert statuses(channel)[1] == FAILED


async def test_auth_plain_cancel_bad_base64_and_wrong_password(run_pop3: Runner):
    wrong = plain(address("bob"), "wrong-password")
    channel = await run_pop3(
        f"AUTH PLAIN\r\n*\r\nAUTH PLAIN !!!\r\nAUTH PLAIN =\r\nAUTH PLAIN {wrong}\r\nQUIT\r\n"
    )
    s = statuses(channel)
    assert s[1:3] == ["+ ", "-ERR authentication cancelled"]
    assert s[3] == "-ERR response is not valid base64"
    assert s[4] == "-ERR malformed PLAIN response"
    assert s[5] == FAILED


async def test_a_maildrop_is_open_once_per_user(
    run_pop3: Runner, services: Services, demo: DemoResult
):
    password = demo.passwords[address("bob")]
    ctx, group = await services.auth.authenticate_mail_client(
        group_login("bob"), password, channel="test"
    )
    locks = MaildropLocks()
    locks.held.add((ctx.user_id, group.id))  # bob has the group open in another session
    busy = await run_pop3(user_pass(demo, "bob") + "QUIT\r\n", locks=locks)
    assert statuses(busy)[2] == "-ERR [IN-USE] this maildrop is open in another session"
    own = await run_pop3(user_pass(demo, "bob", group=False) + "QUIT\r\n", locks=locks)
    alice = await run_pop3(user_pass(demo, "alice") + "QUIT\r\n", locks=locks)
    assert statuses(own)[2].startswith("+OK maildrop") and statuses(alice)[2].startswith("+OK")
    assert locks.held == {(ctx.user_id, group.id)}  # the others released theirs at the end
