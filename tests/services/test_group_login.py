"""The `user#group` login form of mail clients: a group mailbox the user may not read fails
exactly like a wrong password — same reply, same lockout count, same audit entry."""

import pytest

from securemail.core.context import AccessContext
from securemail.core.errors import AuthenticationFailed
from securemail.core.rights import MailboxKind, Right
from securemail.services.demo import DEMO_GROUP, load_demo
from securemail.services.registry import Services


async def test_group_login_opens_the_group_for_readers(services: Services, system: AccessContext):
    demo = await load_demo(services, system)
    login = f"alice@polres.co.uk#{DEMO_GROUP}"
    ctx, mailbox = await services.auth.authenticate_mail_client(
        login, demo.passwords["alice@polres.co.uk"], channel="imap"
    )
    assert ctx.address == "alice@polres.co.uk"
    assert mailbox.kind is MailboxKind.GROUP and mailbox.rights == Right.READ
    _ctx, own = await services.auth.authenticate_mail_client(
        "alice@polres.co.uk", demo.passwords["alice@polres.co.uk"], channel="imap"
    )
    assert own.kind is MailboxKind.PERSONAL and own.address == "alice@polres.co.uk"


async def test_a_hidden_group_counts_as_a_wrong_password(services: Services, system: AccessContext):
    demo = await load_demo(services, system)
    password = demo.passwords["erin@polres.co.uk"]
    attempts = services.deps.settings.auth.max_failed_logins
    for _ in range(attempts):
        with pytest.raises(AuthenticationFailed) as failed:
            await services.auth.authenticate_mail_client(
                f"erin@polres.co.uk#{DEMO_GROUP}", password, channel="pop3"
            )
        assert str(failed.value) == "authentication failed"
    # The failures counted: erin is now locked out even with her right password alone.
    with pytest.raises(AuthenticationFailed):
        await services.auth.authenticate("erin@polres.co.uk", password, channel="imap")
    entries = await services.audit.list_entries(system, limit=50)
    erin = [e.action for e in entries if e.target == "erin@polres.co.uk"]
    assert "login" not in erin and erin.count("login.failed") == attempts + 1
