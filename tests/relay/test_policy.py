"""TLS-required domains and the queue listing: administrators only, scoped to their
organisation, every change audited."""

import pytest

from securemail.core.context import AccessContext
from securemail.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from securemail.services.policy import PolicyService
from securemail.services.queue import QueueService
from tests.relay.conftest import ORG, REMOTE, World, message

OTHER_ORG = "Other Org"


async def admins(world: World) -> tuple[AccessContext, AccessContext]:
    """An administrator of the sender's organisation and one of another organisation."""
    directory, auth = world.services.directory, world.services.auth
    await directory.create_org(world.system, OTHER_ORG, "other.example")
    mine, _ = await directory.create_user(
        world.system, "admin@polres.co.uk", admin=True, password="long enough pw"
    )
    theirs, _ = await directory.create_user(
        world.system, "admin@other.example", admin=True, password="long enough pw"
    )
    return (
        await auth.context_for(mine.id, channel="test"),
        await auth.context_for(theirs.id, channel="test"),
    )


async def test_an_org_admin_manages_their_tls_required_list(world: World) -> None:
    policy = PolicyService(world.services.deps)
    admin, _other = await admins(world)
    assert await policy.add_tls_required(admin, ORG, "Remote.Test.") == [REMOTE]
    assert await policy.add_tls_required(admin, ORG, "cps.gov.uk") == ["cps.gov.uk", REMOTE]
    with pytest.raises(Conflict):
        await policy.add_tls_required(admin, ORG, REMOTE)
    assert await policy.remove_tls_required(admin, ORG, "cps.gov.uk") == [REMOTE]
    with pytest.raises(NotFound):
        await policy.remove_tls_required(admin, ORG, "cps.gov.uk")
    with pytest.raises(InvalidInput):
        await policy.add_tls_required(admin, ORG, "not a domain")
    assert await policy.list_tls_required(admin, ORG) == [REMOTE]
    entries = await world.services.audit.list_entries(admin)
    assert [(e.action, e.target, e.actor) for e in reversed(entries) if "tls" in e.action] == [
        ("policy.tls_required.add", REMOTE, "admin@polres.co.uk"),
        ("policy.tls_required.add", "cps.gov.uk", "admin@polres.co.uk"),
        ("policy.tls_required.remove", "cps.gov.uk", "admin@polres.co.uk"),
    ]


async def test_other_organisations_and_users_cannot_touch_the_list(world: World) -> None:
    policy = PolicyService(world.services.deps)
    _admin, other = await admins(world)
    with pytest.raises(NotFound):  # an organisation you may not administer does not exist
        await policy.add_tls_required(other, ORG, REMOTE)
    with pytest.raises(NotFound):
        await policy.list_tls_required(other, ORG)
    with pytest.raises(PermissionDenied):
        await policy.add_tls_required(world.sender, ORG, REMOTE)
    with pytest.raises(PermissionDenied):
        await policy.list_tls_required(world.sender, ORG)
    assert await policy.list_tls_required(world.system, ORG) == []


async def test_the_queue_is_listed_per_organisation_for_administrators(world: World) -> None:
    queue = QueueService(world.services.deps)
    admin, other = await admins(world)
    await world.enqueue(message(), [f"bob@{REMOTE}"])
    assert [i.recipient for i in await queue.list_items(admin)] == [f"bob@{REMOTE}"]
    assert [i.recipient for i in await queue.list_items(world.system)] == [f"bob@{REMOTE}"]
    assert await queue.list_items(other) == []
    assert await queue.list_items(admin, statuses=["sent"]) == []
    with pytest.raises(PermissionDenied):
        await queue.list_items(world.sender)
    with pytest.raises(InvalidInput):
        await queue.list_items(admin, statuses=["lost"])


async def test_only_the_transport_works_the_queue(world: World) -> None:
    queue = QueueService(world.services.deps)
    admin, _other = await admins(world)
    with pytest.raises(PermissionDenied):
        await queue.claim(admin, "node", 10)
    with pytest.raises(PermissionDenied):
        await queue.record(world.sender, "node", [])
