"""Two writers creating the same address at once: one wins, the other gets Conflict (a clear
"already in use", exit 2 on the CLI), never a raw database error."""

import asyncio

from securemail.core.context import AccessContext
from securemail.core.errors import Conflict
from tests.store.conftest import PASSWORD, MakeRuntime


async def test_concurrent_creation_of_one_address_gives_one_user_and_one_conflict(
    make_runtime: MakeRuntime, system: AccessContext
) -> None:
    first, second = [await make_runtime() for _ in range(2)]
    await first.services.directory.create_org(system, "Race Ltd", "race.example")
    outcomes = []
    for i in range(10):
        address = f"user{i}@race.example"
        results = await asyncio.gather(
            first.services.directory.create_user(system, address, password=PASSWORD),
            second.services.directory.create_user(system, address, password=PASSWORD),
            return_exceptions=True,
        )
        outcomes.append(sorted(type(r).__name__ for r in results))
        assert sum(isinstance(r, Conflict) for r in results) == 1, results
    assert outcomes == [["Conflict", "tuple"]] * 10
    users = await first.services.directory.list_users(system)
    assert [u.address for u in users] == sorted(f"user{i}@race.example" for i in range(10))
