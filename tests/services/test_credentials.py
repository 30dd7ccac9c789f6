"""App passwords and the second factor: what mail clients may log in with."""

import pyotp
import pytest

from securemail.core.context import AccessContext
from securemail.core.errors import AuthenticationFailed, InvalidInput, NotFound, PermissionDenied
from securemail.services.registry import Services

ALICE, BOB = "alice@acme.example", "bob@acme.example"
PASSWORD = "alice's own long password"


@pytest.fixture
async def alice(services: Services, system: AccessContext) -> AccessContext:
    await services.directory.create_org(system, "Acme", "acme.example")
    await services.directory.create_user(system, ALICE, password=PASSWORD)
    await services.directory.create_user(system, BOB, password="bob's own long password")
    return await services.auth.authenticate(ALICE, PASSWORD, channel="web")


async def test_app_password_works_for_its_protocols_only(services: Services, alice: AccessContext):
    secret = await services.credentials.create_app_password(alice, ALICE, "phone", "imap,smtp")
    for channel in ("imap", "smtp"):
        ctx = await services.auth.authenticate(ALICE, secret, channel=channel)
        assert ctx.user_id == alice.user_id
    for channel in ("pop3", "web"):
        with pytest.raises(AuthenticationFailed):
            await services.auth.authenticate(ALICE, secret, channel=channel)
    with pytest.raises(AuthenticationFailed):  # another user's name with alice's app password
        await services.auth.authenticate(BOB, secret, channel="imap")
    [listed] = await services.credentials.list_app_passwords(alice, ALICE)
    assert listed.label == "phone" and listed.protocols == ("imap", "smtp")
    assert listed.last_used_at is not None


async def test_with_a_second_factor_mail_clients_need_app_passwords(
    services: Services, alice: AccessContext
):
    assert (await services.auth.authenticate(ALICE, PASSWORD, channel="imap")).user_id
    secret, uri = services.credentials.begin_totp(alice)
    assert uri.startswith("otpauth://totp/") and "alice" in uri
    with pytest.raises(InvalidInput):
        await services.credentials.confirm_totp(alice, secret, "000000")
    await services.credentials.confirm_totp(alice, secret, pyotp.TOTP(secret).now())
    assert await services.credentials.has_second_factor(alice)
    for channel in ("imap", "pop3", "smtp"):
        with pytest.raises(AuthenticationFailed):
            await services.auth.authenticate(ALICE, PASSWORD, channel=channel)
    app = await services.credentials.create_app_password(alice, ALICE, "laptop")
    assert (await services.auth.authenticate(ALICE, app, channel="pop3")).user_id == alice.user_id
    # The web login still takes the password (its second step asks for the TOTP code).
    assert (await services.auth.authenticate(ALICE, PASSWORD, channel="web")).user_id


async def test_revoked_app_password_no_longer_works(services: Services, alice: AccessContext):
    secret = await services.credentials.create_app_password(alice, ALICE, "old phone")
    [listed] = await services.credentials.list_app_passwords(alice, ALICE)
    await services.credentials.revoke_app_password(alice, ALICE, listed.id)
    with pytest.raises(AuthenticationFailed):
        await services.auth.authenticate(ALICE, secret, channel="imap")
    with pytest.raises(NotFound):
        await services.credentials.revoke_app_password(alice, ALICE, listed.id)


async def test_users_cannot_touch_each_others_app_passwords(
    services: Services, alice: AccessContext
):
    with pytest.raises(NotFound):
        await services.credentials.create_app_password(alice, BOB, "sneaky")
    with pytest.raises(NotFound):
        await services.credentials.list_app_passwords(alice, BOB)


async def test_bad_protocol_list_is_refused(services: Services, alice: AccessContext):
    with pytest.raises(InvalidInput):
        await services.credentials.create_app_password(alice, ALICE, "x", "imap,ftp")
    assert await services.credentials.list_app_passwords(alice, ALICE) == []


async def test_an_administrator_cannot_make_app_passwords_for_users(
    services: Services, system: AccessContext, alice: AccessContext
):
    await services.directory.create_user(
        system, "admin@acme.example", admin=True, password=PASSWORD
    )
    admin = await services.auth.authenticate("admin@acme.example", PASSWORD, channel="web")
    with pytest.raises(PermissionDenied):
        await services.credentials.create_app_password(admin, ALICE, "backdoor")
    assert await services.credentials.list_app_passwords(admin, ALICE) == []
