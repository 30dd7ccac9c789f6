"""A member holding Manage hands on only rights they hold, and never changes their own."""

import pytest

from securemail.core.context import AccessContext, system_context
from securemail.core.errors import PermissionDenied
from securemail.core.rights import Right
from securemail.services.demo import DEMO_DOMAIN, DEMO_GROUP, load_demo
from securemail.services.registry import Services


async def _ctx(services: Services, name: str) -> AccessContext:
    users = {u.address: u for u in await services.directory.list_users(_system())}
    return await services.auth.context_for(users[f"{name}@{DEMO_DOMAIN}"].id, channel="test")


def _system() -> AccessContext:
    return system_context("test")


async def _rights(services: Services, name: str) -> Right:
    grants = await services.sharing.list_grants(_system(), DEMO_GROUP)
    return next((g.rights for g in grants if g.user_address == f"{name}@{DEMO_DOMAIN}"), Right.NONE)


async def test_manager_cannot_raise_own_rights(services: Services) -> None:
    await load_demo(services, _system())
    await services.sharing.revoke(_system(), DEMO_GROUP, f"dave@{DEMO_DOMAIN}", Right.DELETE)
    dave = await _ctx(services, "dave")
    with pytest.raises(PermissionDenied, match="your own rights"):
        await services.sharing.grant(dave, DEMO_GROUP, f"dave@{DEMO_DOMAIN}", Right.DELETE)
    assert Right.DELETE not in await _rights(services, "dave")


async def test_manager_cannot_grant_what_they_lack(services: Services) -> None:
    await load_demo(services, _system())
    await services.sharing.revoke(_system(), DEMO_GROUP, f"dave@{DEMO_DOMAIN}", Right.DELETE)
    dave = await _ctx(services, "dave")
    with pytest.raises(PermissionDenied, match="rights you hold"):
        await services.sharing.grant(dave, DEMO_GROUP, f"alice@{DEMO_DOMAIN}", Right.DELETE)
    assert await _rights(services, "alice") == Right.READ
    # what dave holds, he may hand on
    await services.sharing.grant(dave, DEMO_GROUP, f"alice@{DEMO_DOMAIN}", Right.MAIL)
    assert await _rights(services, "alice") == Right.READ | Right.MAIL


async def test_manager_may_revoke_others_not_self(services: Services) -> None:
    await load_demo(services, _system())
    dave = await _ctx(services, "dave")
    await services.sharing.revoke(dave, DEMO_GROUP, f"bob@{DEMO_DOMAIN}", Right.WRITE)
    assert await _rights(services, "bob") == Right.READ
    with pytest.raises(PermissionDenied):
        await services.sharing.revoke(dave, DEMO_GROUP, f"dave@{DEMO_DOMAIN}", Right.MAIL)
    assert Right.MAIL in await _rights(services, "dave")


async def test_administrator_grants_anything(services: Services) -> None:
    await load_demo(services, _system())
    admin = await _ctx(services, "admin")
    await services.sharing.grant(
        admin, DEMO_GROUP, f"erin@{DEMO_DOMAIN}", Right.READ | Right.DELETE
    )
    assert await _rights(services, "erin") == Right.READ | Right.DELETE
