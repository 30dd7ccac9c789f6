"""Organisations, domains, users and group mailboxes: the administrators' use cases."""

import asyncio

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.addresses import normalise_domain, parse_address
from securemail.core.context import AccessContext
from securemail.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from securemail.core.model import Mailbox, Organisation, User
from securemail.core.rights import MailboxKind, Right, Role, effective_rights, may_administer_org
from securemail.security.secrets import generate_password
from securemail.services.base import Deps, audit
from securemail.services.org_policy import limits_for
from securemail.store.repos import directory as dir_repo
from securemail.store.repos import mailboxes as mailbox_repo

MAX_NAME = 200
MAX_SUGGESTIONS = 50  # addresses one completion request returns at most
MAX_SUGGEST_TEXT = 254  # characters of typed text matched (the longest address)


def clean_display_name(text: str | None, default: str) -> str:
    """A display name as one clean line, bounded; `default` when empty."""
    name = " ".join((text or "").split())
    if any(ord(c) < 32 for c in name):
        raise InvalidInput("display name contains control characters")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"display name longer than {MAX_NAME} characters")
    return name or default


def _require_service_admin(ctx: AccessContext) -> None:
    if ctx.role is not Role.SERVICE_ADMIN:
        raise PermissionDenied("only the service administrator may do this")


def _require_admin_role(ctx: AccessContext) -> None:
    """Authorise first (DESIGN 3.2): a plain user is refused before anything they sent is
    read, so a malformed request from them says "not allowed", never what was wrong in it."""
    if ctx.role is Role.USER:
        raise PermissionDenied("only an administrator may do this")


def _require_admin(ctx: AccessContext, org_id: int) -> None:
    """Organisations you may not administer do not exist for you."""
    if not may_administer_org(ctx.principal, org_id):
        if ctx.role is Role.ORG_ADMIN:
            raise NotFound("no such organisation")
        raise PermissionDenied("only an administrator of this organisation may do this")


def check_password(password: str, minimum: int) -> None:
    """The password policy: the organisation's minimum length (never below the server's)."""
    if len(password) < minimum:
        raise InvalidInput(f"password must be at least {minimum} characters")
    if len(password) > 1024 or any(ord(c) < 32 for c in password):
        raise InvalidInput("password is too long or contains control characters")


class DirectoryService:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def create_org(self, ctx: AccessContext, name: str, domain: str) -> Organisation:
        _require_service_admin(ctx)
        clean = clean_display_name(name, "")
        if not clean:
            raise InvalidInput("organisation name is empty")
        domain = normalise_domain(domain)
        async with self.deps.db.write() as conn:
            if await dir_repo.find_org_by_name(conn, clean):
                raise Conflict(f"organisation {clean!r} already exists")
            await self._check_domain_free(conn, domain)
            org_id = await dir_repo.insert_org(conn, clean)
            await dir_repo.insert_domain(conn, org_id, domain)
            await audit(conn, ctx, "org.create", target=clean, detail=domain, org_id=org_id)
        return Organisation(org_id, clean, (domain,))

    async def add_domain(self, ctx: AccessContext, org_name: str, domain: str) -> Organisation:
        _require_service_admin(ctx)
        domain = normalise_domain(domain)
        async with self.deps.db.write() as conn:
            org = await dir_repo.find_org_by_name(conn, org_name.strip())
            if org is None:
                raise NotFound(f"no organisation named {org_name.strip()!r}")
            await self._check_domain_free(conn, domain)
            await dir_repo.insert_domain(conn, org.id, domain)
            await audit(conn, ctx, "domain.add", target=domain, org_id=org.id)
        return Organisation(org.id, org.name, tuple(sorted((*org.domains, domain))))

    async def _check_domain_free(self, conn: AsyncConnection, domain: str) -> None:
        if await dir_repo.find_domain_org(conn, domain) is not None:
            raise Conflict(f"domain {domain} already belongs to an organisation")

    async def is_local_domain(self, domain: str) -> bool:
        """Whether a mail domain is served here: public knowledge (it is in the MX record)."""
        async with self.deps.db.read() as conn:
            return await dir_repo.find_domain_org(conn, domain) is not None

    async def list_orgs(self, ctx: AccessContext) -> list[Organisation]:
        if ctx.role is Role.SERVICE_ADMIN:
            scope = None
        elif ctx.role is Role.ORG_ADMIN and ctx.org_id is not None:
            scope = ctx.org_id
        else:
            raise PermissionDenied("only administrators may list organisations")
        async with self.deps.db.read() as conn:
            return await dir_repo.list_orgs(conn, scope)

    async def _org_for_address(self, conn: AsyncConnection, domain: str) -> int:
        org_id = await dir_repo.find_domain_org(conn, domain)
        if org_id is None:
            raise InvalidInput(f"domain {domain} does not belong to any organisation")
        return org_id

    async def _check_address_free(self, conn: AsyncConnection, key: str) -> None:
        taken = await dir_repo.find_user_by_address(conn, key)
        if taken or await mailbox_repo.find_mailbox_by_address(conn, key):
            raise Conflict(f"address {key} is already in use")

    async def create_user(
        self,
        ctx: AccessContext,
        address: str,
        *,
        display_name: str | None = None,
        admin: bool = False,
        password: str | None = None,
    ) -> tuple[User, str | None]:
        """Create a user and their personal mailbox; returns the one-time password if generated."""
        _require_admin_role(ctx)
        addr = parse_address(address)
        if admin:
            _require_service_admin(ctx)
        async with self.deps.db.read() as conn:  # refuse before the costly hash
            org_id = await self._org_for_address(conn, addr.domain)
            _require_admin(ctx, org_id)
            minimum = (await limits_for(conn, self.deps.settings, org_id)).min_password_length
        generated = None
        if password is None:
            generated = password = generate_password()
        check_password(password, minimum)
        name = clean_display_name(display_name, addr.local)
        role = Role.ORG_ADMIN if admin else Role.USER
        password_hash = await asyncio.to_thread(self.deps.hasher.hash, password)
        async with self.deps.db.write() as conn:
            org_id = await self._org_for_address(conn, addr.domain)
            _require_admin(ctx, org_id)
            await self._check_address_free(conn, addr.key)
            user_id = await dir_repo.insert_user(
                conn,
                org_id=org_id,
                address=addr.key,
                display_name=name,
                role=role,
                password_hash=password_hash,
                must_change_password=generated is not None,
            )
            await mailbox_repo.insert_mailbox(
                conn,
                org_id=org_id,
                kind=MailboxKind.PERSONAL,
                address=addr.key,
                display_name=name,
                owner_user_id=user_id,
            )
            await audit(conn, ctx, "user.create", target=addr.key, detail=role, org_id=org_id)
        return User(user_id, org_id, addr.key, name, role, False), generated

    async def create_group(
        self, ctx: AccessContext, address: str, display_name: str | None = None
    ) -> Mailbox:
        _require_admin_role(ctx)
        addr = parse_address(address)
        name = clean_display_name(display_name, addr.local)
        async with self.deps.db.write() as conn:
            org_id = await self._org_for_address(conn, addr.domain)
            _require_admin(ctx, org_id)
            await self._check_address_free(conn, addr.key)
            try:
                mailbox_id = await mailbox_repo.insert_mailbox(
                    conn,
                    org_id=org_id,
                    kind=MailboxKind.GROUP,
                    address=addr.key,
                    display_name=name,
                    owner_user_id=None,
                )
            except IntegrityError:
                raise Conflict(f"address {addr.key} is already in use") from None
            await audit(conn, ctx, "group.create", mailbox=addr.key, target=name, org_id=org_id)
        return Mailbox(mailbox_id, org_id, MailboxKind.GROUP, addr.key, name, None, False)

    async def list_users(self, ctx: AccessContext, org_name: str | None = None) -> list[User]:
        async with self.deps.db.read() as conn:
            scope = await self._admin_scope(conn, ctx, org_name)
            return list(await dir_repo.list_users(conn, scope))

    async def list_groups(self, ctx: AccessContext, org_name: str | None = None) -> list[Mailbox]:
        async with self.deps.db.read() as conn:
            scope = await self._admin_scope(conn, ctx, org_name)
            return await mailbox_repo.list_group_mailboxes(conn, scope)

    async def _admin_scope(
        self, conn: AsyncConnection, ctx: AccessContext, org_name: str | None
    ) -> int | None:
        """None for every organisation (service admin, no filter), else one org id."""
        if org_name:
            org = await dir_repo.find_org_by_name(conn, org_name)
            if org is None or not may_administer_org(ctx.principal, org.id):
                if ctx.role is Role.USER:
                    raise PermissionDenied("only administrators may list the directory")
                raise NotFound(f"no organisation named {org_name!r}")
            return org.id
        if ctx.role is Role.SERVICE_ADMIN:
            return None
        if ctx.role is Role.ORG_ADMIN and ctx.org_id is not None:
            return ctx.org_id
        raise PermissionDenied("only administrators may list the directory")

    async def _require_user_admin(
        self, conn: AsyncConnection, ctx: AccessContext, key: str
    ) -> User:
        """The user at `key` if the caller administers their organisation. A plain user is
        refused before any look-up, so taken and free addresses answer alike."""
        if ctx.role is Role.USER:
            raise PermissionDenied("only an administrator of this organisation may do this")
        user = await dir_repo.find_user_by_address(conn, key)
        if user is None or user.org_id is None:
            raise NotFound(f"no user {key}")
        _require_admin(ctx, user.org_id)
        return user

    async def set_user_disabled(self, ctx: AccessContext, address: str, disabled: bool) -> User:
        key = parse_address(address).key
        async with self.deps.db.write() as conn:
            user = await self._require_user_admin(conn, ctx, key)
            if user.id == ctx.user_id:
                raise InvalidInput("you cannot disable your own account")
            await dir_repo.update_user(conn, user.id, disabled=disabled)
            action = "user.disable" if disabled else "user.enable"
            await audit(conn, ctx, action, target=key, org_id=user.org_id)
        return User(user.id, user.org_id, key, user.display_name, user.role, disabled)

    async def reset_password(
        self, ctx: AccessContext, address: str, password: str | None = None
    ) -> str | None:
        """Set a new password (generated when None, and then forced to change at next login)."""
        key = parse_address(address).key
        async with self.deps.db.read() as conn:  # refuse before the costly hash
            target = await self._require_user_admin(conn, ctx, key)
            limits = await limits_for(conn, self.deps.settings, target.org_id)
        generated = None
        if password is None:
            generated = password = generate_password()
        check_password(password, limits.min_password_length)
        password_hash = await asyncio.to_thread(self.deps.hasher.hash, password)
        async with self.deps.db.write() as conn:
            user = await self._require_user_admin(conn, ctx, key)
            await dir_repo.update_user(
                conn,
                user.id,
                password_hash=password_hash,
                must_change_password=generated is not None,
                failed_logins=0,
                locked_until=None,
            )
            await audit(conn, ctx, "user.password_reset", target=key, org_id=user.org_id)
        return generated

    async def suggest(
        self, ctx: AccessContext, text: str, limit: int = 10
    ) -> list[tuple[str, str]]:
        """Address completion for a composer: (address, display name) of the enabled users of
        the caller's own organisation and of the group mailboxes the caller may read (others
        do not exist for them), whose address or name starts with `text`. Nothing for fewer
        than two characters or a caller outside any organisation."""
        prefix = " ".join(text.split())[:MAX_SUGGEST_TEXT]
        if ctx.org_id is None or len(prefix) < 2 or any(ord(c) < 32 for c in prefix):
            return []
        limit = max(1, min(limit, MAX_SUGGESTIONS))
        async with self.deps.db.read() as conn:
            readable = [
                mailbox.id
                for mailbox, granted in await mailbox_repo.list_candidate_mailboxes(
                    conn, ctx.user_id, ctx.org_id
                )
                if mailbox.kind is MailboxKind.GROUP
                and Right.READ
                in effective_rights(ctx.principal, mailbox_repo.facts(mailbox), [granted])
            ]
            return await dir_repo.suggest_addresses(conn, ctx.org_id, prefix, limit, readable)
