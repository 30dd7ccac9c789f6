"""/api/v1 administration: organisations (service administrator), users and group mailboxes
(administrators of the organisation), grants (administrators and Manage holders)."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from securemail.core.addresses import parse_address
from securemail.core.errors import InvalidInput
from securemail.core.rights import RIGHT_NAMES, Right
from securemail.web.api.auth import Auth, services_of
from securemail.web.api.models import LINE
from securemail.web.api.models_admin import (
    GrantOut,
    GrantSet,
    GroupCreate,
    GroupOut,
    OrgCreate,
    OrgOut,
    PasswordReset,
    PasswordResetResult,
    UserCreate,
    UserCreated,
    UserOut,
)

router = APIRouter(tags=["administration"])

AddressPath = Annotated[str, Path(min_length=3, max_length=254, pattern=LINE)]
OrgFilter = Annotated[
    str | None, Query(max_length=200, pattern=LINE, description="an organisation's name")
]


@router.get("/orgs", response_model=list[OrgOut])
async def list_orgs(request: Request, who: Auth) -> list[OrgOut]:
    """Every organisation (service administrator) or one's own (its administrators)."""
    return [OrgOut.of(o) for o in await services_of(request).directory.list_orgs(who.ctx)]


@router.post("/orgs", response_model=OrgOut, status_code=201)
async def create_org(request: Request, who: Auth, body: OrgCreate) -> OrgOut:
    """A new organisation with its first mail domain (service administrator)."""
    directory = services_of(request).directory
    return OrgOut.of(await directory.create_org(who.ctx, body.name, body.domain))


@router.get("/users", response_model=list[UserOut])
async def list_users(request: Request, who: Auth, org: OrgFilter = None) -> list[UserOut]:
    users = await services_of(request).directory.list_users(who.ctx, org or None)
    return [UserOut.of(u) for u in users]


@router.post("/users", response_model=UserCreated, status_code=201)
async def create_user(request: Request, who: Auth, body: UserCreate) -> UserCreated:
    """A user with their personal mailbox; without a password, a one-time one is returned
    (shown once; the user changes it at first login)."""
    user, generated = await services_of(request).directory.create_user(
        who.ctx,
        body.address,
        display_name=body.display_name,
        admin=body.admin,
        password=body.password,
    )
    return UserCreated(user=UserOut.of(user), one_time_password=generated)


@router.post("/users/{address}/disable", response_model=UserOut)
async def disable_user(request: Request, who: Auth, address: AddressPath) -> UserOut:
    """Disable an account: its sessions and tokens stop working at their next request."""
    directory = services_of(request).directory
    return UserOut.of(await directory.set_user_disabled(who.ctx, address, True))


@router.post("/users/{address}/enable", response_model=UserOut)
async def enable_user(request: Request, who: Auth, address: AddressPath) -> UserOut:
    directory = services_of(request).directory
    return UserOut.of(await directory.set_user_disabled(who.ctx, address, False))


@router.post("/users/{address}/reset-password", response_model=PasswordResetResult)
async def reset_password(
    request: Request, who: Auth, address: AddressPath, body: PasswordReset | None = None
) -> PasswordResetResult:
    """Set a password, or generate a one-time one (returned once, changed at next login)."""
    password = body.password if body is not None else None
    directory = services_of(request).directory
    generated = await directory.reset_password(who.ctx, address, password)
    return PasswordResetResult(one_time_password=generated)


@router.get("/groups", response_model=list[GroupOut])
async def list_groups(request: Request, who: Auth, org: OrgFilter = None) -> list[GroupOut]:
    groups = await services_of(request).directory.list_groups(who.ctx, org or None)
    return [GroupOut.of(g) for g in groups]


@router.post("/groups", response_model=GroupOut, status_code=201)
async def create_group(request: Request, who: Auth, body: GroupCreate) -> GroupOut:
    directory = services_of(request).directory
    return GroupOut.of(await directory.create_group(who.ctx, body.address, body.display_name))


async def _grants(request: Request, who: Auth, group: str) -> list[GrantOut]:
    found = await services_of(request).sharing.list_grants(who.ctx, group)
    return [GrantOut.of(g) for g in found if Right.READ in g.rights]


@router.get("/groups/{address}/grants", response_model=list[GrantOut])
async def list_grants(request: Request, who: Auth, address: AddressPath) -> list[GrantOut]:
    """Who holds which rights on a group mailbox (administrators and Manage holders)."""
    return await _grants(request, who, address)


@router.put("/groups/{address}/grants/{user}", response_model=GrantOut)
async def set_grant(
    request: Request, who: Auth, address: AddressPath, user: AddressPath, body: GrantSet
) -> GrantOut:
    """Give the user exactly these rights (read is needed for any other; [] revokes all).
    Rights are added before any are taken, so a refused addition changes nothing."""
    sharing = services_of(request).sharing
    key = parse_address(user).key
    wanted = Right.NONE
    for name in body.rights:
        wanted |= RIGHT_NAMES[name]
    if wanted and Right.READ not in wanted:
        raise InvalidInput("every right needs read: include read")
    if not wanted:
        await sharing.revoke(who.ctx, address, key)
        return GrantOut(user=key, rights=[])
    held = next((g.rights for g in await sharing.list_grants(who.ctx, address) if
                 g.user_address.lower() == key), Right.NONE)  # fmt: skip
    if wanted & ~held:
        await sharing.grant(who.ctx, address, key, wanted & ~held)
    if held & ~wanted:
        await sharing.revoke(who.ctx, address, key, held & ~wanted)
    return next(
        (g for g in await _grants(request, who, address) if g.user.lower() == key),
        GrantOut(user=key, rights=[]),
    )


@router.delete("/groups/{address}/grants/{user}", status_code=204)
async def revoke_grant(
    request: Request, who: Auth, address: AddressPath, user: AddressPath
) -> None:
    """Take every right the user holds on the group mailbox."""
    await services_of(request).sharing.revoke(who.ctx, address, user)
