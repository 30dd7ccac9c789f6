"""Organisation policy: set by its administrators only, and enforced where mail is sent,
sessions are checked and passwords are set."""

import dataclasses

import pytest

from securemail.core.context import AccessContext, system_context
from securemail.core.errors import InvalidInput, NotFound, PermissionDenied, QuotaExceeded
from securemail.core.model import OrgPolicy
from securemail.services.demo import DEMO_DOMAIN, DemoResult, load_demo
from securemail.services.registry import Services

SYSTEM = system_context("test")


def raw(to: str, sender: str, size: int = 0) -> bytes:
    body = "x" * size
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: policy\r\nMessage-ID: <p{size}@{DEMO_DOMAIN}>"
        f"\r\n\r\nHello {body}\r\n"
    ).encode()


async def login(services: Services, demo: DemoResult, name: str) -> AccessContext:
    address = f"{name}@{DEMO_DOMAIN}"
    return await services.auth.authenticate(address, demo.passwords[address], channel="test")


@pytest.fixture
async def demo(services: Services) -> DemoResult:
    return await load_demo(services, SYSTEM)


async def test_only_the_organisations_administrators_set_policy(
    services: Services, demo: DemoResult
) -> None:
    admin = await login(services, demo, "admin")
    alice = await login(services, demo, "alice")
    assert admin.org_id is not None
    policy = OrgPolicy(org_id=admin.org_id, recipient_allowlist=("partner.example",))
    with pytest.raises(PermissionDenied):
        await services.org_policy.set(alice, policy)
    assert (await services.org_policy.get(admin, admin.org_id)).recipient_allowlist == ()
    with pytest.raises(NotFound):
        await services.org_policy.get(admin, admin.org_id + 1000)
    saved = await services.org_policy.set(admin, policy)
    assert saved.recipient_allowlist == ("partner.example",)
    entries = await services.audit.list_entries(SYSTEM, limit=5)
    assert any(e.action == "policy.set" and e.actor == admin.address for e in entries)


@pytest.mark.parametrize(
    "change",
    [
        {"recipient_allowlist": ("not a domain!",)},
        {"max_message_bytes": 10},
        {"max_message_bytes": 10**12},
        {"session_idle_minutes": 1},
        {"min_password_length": 3},
    ],
)
async def test_bad_policy_is_refused_and_nothing_changes(
    services: Services, demo: DemoResult, change: dict[str, object]
) -> None:
    admin = await login(services, demo, "admin")
    assert admin.org_id is not None
    before = await services.org_policy.get(admin, admin.org_id)
    with pytest.raises(InvalidInput):
        await services.org_policy.set(admin, dataclasses.replace(before, **change))  # type: ignore[arg-type]
    assert await services.org_policy.get(admin, admin.org_id) == before


async def test_closed_community_refuses_other_domains_at_submission(
    services: Services, demo: DemoResult
) -> None:
    admin = await login(services, demo, "admin")
    assert admin.org_id is not None
    await services.org_policy.set(
        admin, OrgPolicy(org_id=admin.org_id, recipient_allowlist=("partner.example",))
    )
    bob = await login(services, demo, "bob")
    sender = f"bob@{DEMO_DOMAIN}"
    with pytest.raises(PermissionDenied, match="closed community"):
        await services.submission.submit(
            bob, sender, ["someone@elsewhere.example"], raw("someone@elsewhere.example", sender)
        )
    with pytest.raises(PermissionDenied, match="closed community"):
        await services.submission.check_recipient(bob, "someone@elsewhere.example")
    assert await services.queue.list_items(SYSTEM) == []
    # the allowed domain (and its subdomains) and the organisation's own domain still work
    ok = await services.submission.submit(
        bob,
        sender,
        ["x@partner.example", "y@mail.partner.example", f"alice@{DEMO_DOMAIN}"],
        raw("x@partner.example", sender),
    )
    assert set(ok.queued) == {"x@partner.example", "y@mail.partner.example"}
    assert ok.local == (f"alice@{DEMO_DOMAIN}",)


async def test_organisation_may_lower_the_message_size(
    services: Services, demo: DemoResult
) -> None:
    admin = await login(services, demo, "admin")
    assert admin.org_id is not None
    await services.org_policy.set(admin, OrgPolicy(org_id=admin.org_id, max_message_bytes=2048))
    bob = await login(services, demo, "bob")
    sender = f"bob@{DEMO_DOMAIN}"
    with pytest.raises(QuotaExceeded):
        await services.submission.submit(
            bob, sender, [f"alice@{DEMO_DOMAIN}"], raw(f"alice@{DEMO_DOMAIN}", sender, 4000)
        )
    sent = await services.submission.submit(
        bob, sender, [f"alice@{DEMO_DOMAIN}"], raw(f"alice@{DEMO_DOMAIN}", sender, 100)
    )
    assert sent.local == (f"alice@{DEMO_DOMAIN}",)


async def test_required_second_factor_becomes_a_session_duty(
    services: Services, demo: DemoResult
) -> None:
    admin = await login(services, demo, "admin")
    assert admin.org_id is not None
    address = f"carol@{DEMO_DOMAIN}"
    token, _ = await services.sessions.login(
        address, demo.passwords[address], remote="127.0.0.1", user_agent="test"
    )
    assert (await services.sessions.resolve(token))[1].duty == ""
    await services.org_policy.set(admin, OrgPolicy(org_id=admin.org_id, require_second_factor=True))
    assert (await services.sessions.resolve(token))[1].duty == "second-factor"


async def test_organisation_password_minimum_applies_to_new_passwords(
    services: Services, demo: DemoResult
) -> None:
    admin = await login(services, demo, "admin")
    assert admin.org_id is not None
    await services.org_policy.set(admin, OrgPolicy(org_id=admin.org_id, min_password_length=20))
    with pytest.raises(InvalidInput, match="at least 20"):
        await services.directory.reset_password(admin, f"bob@{DEMO_DOMAIN}", "fifteen-chars-x")
    with pytest.raises(InvalidInput, match="at least 20"):
        await services.directory.create_user(
            admin, f"frank@{DEMO_DOMAIN}", password="fifteen-chars-x"
        )
    assert f"frank@{DEMO_DOMAIN}" not in {
        u.address for u in await services.directory.list_users(SYSTEM)
    }
    # the old password still works: nothing changed
    assert await login(services, demo, "bob")
    await services.directory.reset_password(admin, f"bob@{DEMO_DOMAIN}", "a-passphrase-of-twenty+")
