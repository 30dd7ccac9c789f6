"""The demo organisation loads and its members see what their grants say."""

from securemail.core.context import AccessContext
from securemail.core.rights import Right
from securemail.services.demo import DEMO_GROUP, load_demo
from securemail.services.registry import Services


async def test_demo_members_see_the_group_by_their_grants(
    services: Services, system: AccessContext
) -> None:
    result = await load_demo(services, system)
    assert result.created
    seen = {}
    for name in ("alice", "bob", "carol", "dave", "erin"):
        ctx = await services.auth.authenticate(
            f"{name}@polres.co.uk", result.passwords[f"{name}@polres.co.uk"], channel="test"
        )
        boxes = {m.address: m.rights for m in await services.mailboxes.list_mailboxes(ctx)}
        seen[name] = boxes.get(DEMO_GROUP.lower())
    assert seen["alice"] == Right.READ
    assert seen["bob"] == Right.READ | Right.WRITE
    assert seen["carol"] == Right.READ | Right.MAIL
    assert seen["dave"] == Right.READ | Right.WRITE | Right.MAIL | Right.DELETE | Right.MANAGE
    assert seen["erin"] is None
    again = await load_demo(services, system)
    assert not again.created
