"""Accounts for the admin console: creating users (one by one or from a CSV file), appointing
organisation administrators, seeing and ending a user's webmail sessions, organisations."""

import asyncio
import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.addresses import Address, parse_address
from securemail.core.context import AccessContext
from securemail.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from securemail.core.model import Organisation, User
from securemail.core.rights import MailboxKind, Role, may_administer_org
from securemail.security.secrets import generate_password
from securemail.services.base import Deps, audit
from securemail.services.directory import (
    DirectoryService,
    check_password,
    clean_display_name,
)
from securemail.services.org_policy import limits_for
from securemail.store.repos import accounts as account_repo
from securemail.store.repos import directory as dir_repo
from securemail.store.repos import mailboxes as mailbox_repo
from securemail.store.repos import web_sessions_admin as session_repo
from securemail.store.repos.accounts import AccountRow
from securemail.store.repos.common import as_utc

MAX_IMPORT_ROWS = 5000  # users one CSV file may create
MAX_IMPORT_BYTES = 1024 * 1024  # size of one CSV file
MAX_NAME = 200
COLUMNS = ("address", "display_name", "role", "password")
REQUIRED_COLUMNS = ("address", "display_name")
ROLES = {"": Role.USER, "user": Role.USER, "admin": Role.ORG_ADMIN}


class AddressRefused(InvalidInput):
    """The address is malformed or not in a domain of the organisation."""


class AddressTaken(Conflict):
    """A user or group mailbox already has the address."""


class NameRefused(InvalidInput):
    """The display name is unusable."""


class PasswordRefused(InvalidInput):
    """The password breaks the organisation's password policy."""


@dataclass(frozen=True, slots=True)
class UserSession:
    """A user's webmail session as an administrator sees it (never its token)."""

    id: int
    created_at: datetime
    last_seen_at: datetime
    remote: str
    user_agent: str


@dataclass(frozen=True, slots=True)
class ImportRow:
    """What became of one row of an import: created (with its one-time password when the
    row set none) or refused, and why."""

    row: int  # the row in the file; the header is row 1
    address: str
    created: bool
    reason: str = ""
    password: str | None = None


@dataclass(frozen=True, slots=True)
class ImportReport:
    rows: tuple[ImportRow, ...] = field(default=())

    @property
    def created(self) -> int:
        return sum(1 for r in self.rows if r.created)

    @property
    def refused(self) -> int:
        return len(self.rows) - self.created


@dataclass(frozen=True, slots=True)
class OrgOverview:
    org: Organisation
    admins: tuple[str, ...]


def _display_name(text: str | None, default: str) -> str:
    try:
        return clean_display_name(text, default)
    except InvalidInput as refused:
        raise NameRefused(str(refused)) from None


def _address(text: str) -> Address:
    try:
        return parse_address(text)
    except InvalidInput as exc:
        raise AddressRefused(str(exc)) from None


def _require_admin_role(ctx: AccessContext) -> None:
    """Plain users are refused before any look-up, so they learn nothing about addresses."""
    if ctx.role is Role.USER:
        raise PermissionDenied("only administrators manage accounts")


def _require_org(ctx: AccessContext, org_id: int) -> None:
    """An organisation you may not administer does not exist for you."""
    if not may_administer_org(ctx.principal, org_id):
        raise NotFound("no such organisation")


def _hide_unless_service_admin(ctx: AccessContext) -> None:
    if ctx.role is not Role.SERVICE_ADMIN:
        raise NotFound("no such page")


def _session(row: Any) -> UserSession:
    return UserSession(
        id=row.id,
        created_at=as_utc(row.created_at) or datetime.now(UTC),
        last_seen_at=as_utc(row.last_seen_at) or datetime.now(UTC),
        remote=row.remote,
        user_agent=row.user_agent,
    )


def parse_import(text: str) -> list[tuple[int, dict[str, str]]]:
    """The rows of a CSV file as (row number, fields); the whole file is refused, before any
    user is created, when it has no header, unknown columns, or too many rows."""
    if len(text.encode("utf-8")) > MAX_IMPORT_BYTES:
        raise InvalidInput(f"the file is larger than {MAX_IMPORT_BYTES // 1024} KiB")
    if "\0" in text:
        raise InvalidInput("the file is not a CSV text file")
    try:
        records = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    except csv.Error as exc:
        raise InvalidInput(f"the file is not valid CSV: {exc}") from None
    header = [h.strip().lower() for h in records[0]] if records else []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise InvalidInput(
            "the first row must be the header: address,display_name[,role][,password]"
        )
    unknown = [h for h in header if h not in COLUMNS]
    if unknown or len(set(header)) != len(header):
        raise InvalidInput(f"unknown or repeated columns in the header: {','.join(unknown)}")
    rows = [(n, r) for n, r in enumerate(records[1:], start=2) if any(c.strip() for c in r)]
    if not rows:
        raise InvalidInput("the file has no rows after the header")
    if len(rows) > MAX_IMPORT_ROWS:
        raise InvalidInput(f"at most {MAX_IMPORT_ROWS} rows per file; split the file")
    found = []
    for number, record in rows:
        fields = dict(zip(header, record, strict=False))
        if len(record) != len(header):
            fields["_error"] = f"expected {len(header)} fields, found {len(record)}"
        found.append((number, fields))
    return found


class AccountAdminService:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.directory = DirectoryService(deps)

    # --- listing ---------------------------------------------------------------------------

    async def _cutoff(self, conn: AsyncConnection, org_id: int | None) -> datetime:
        """Sessions idle longer than the organisation's timeout have ended."""
        limits = await limits_for(conn, self.deps.settings, org_id)
        return datetime.now(UTC) - timedelta(minutes=limits.session_idle_minutes)

    async def list_accounts(
        self, ctx: AccessContext, org_id: int | None = None
    ) -> list[AccountRow]:
        """The users of an organisation the caller administers (every user for the service
        administrator without `org_id`), with second factor, sessions and last login."""
        _require_admin_role(ctx)
        if org_id is None and ctx.role is Role.ORG_ADMIN:
            org_id = ctx.org_id
        if org_id is not None:
            _require_org(ctx, org_id)
        async with self.deps.db.read() as conn:
            cutoff = await self._cutoff(conn, org_id)
            return await account_repo.list_accounts(conn, org_id, cutoff)

    async def _target(self, conn: AsyncConnection, ctx: AccessContext, key: str) -> User:
        """A user of an organisation the caller administers; anybody else does not exist."""
        user = await dir_repo.find_user_by_address(conn, key)
        if (
            user is None
            or user.org_id is None
            or not may_administer_org(ctx.principal, user.org_id)
        ):
            raise NotFound(f"no user {key}")
        return user

    async def get_account(
        self, ctx: AccessContext, address: str
    ) -> tuple[AccountRow, list[UserSession]]:
        """One user with their active webmail sessions, most recent first."""
        _require_admin_role(ctx)
        key = _address(address).key
        async with self.deps.db.read() as conn:
            user = await self._target(conn, ctx, key)
            cutoff = await self._cutoff(conn, user.org_id)
            (account,) = await account_repo.list_accounts(conn, user.org_id, cutoff, key)
            rows = await session_repo.list_active(conn, user.id)
        return account, [s for s in map(_session, rows) if s.last_seen_at >= cutoff]

    # --- creating users ----------------------------------------------------------------------

    async def _org_of(self, conn: AsyncConnection, ctx: AccessContext, domain: str) -> int:
        """The organisation of a mail domain, if the caller administers it."""
        org_id = await dir_repo.find_domain_org(conn, domain)
        if org_id is None or not may_administer_org(ctx.principal, org_id):
            if ctx.role is Role.SERVICE_ADMIN:
                raise AddressRefused(f"domain {domain} does not belong to any organisation")
            raise AddressRefused(f"{domain} is not a mail domain of your organisation")
        return org_id

    async def create_user(
        self,
        ctx: AccessContext,
        address: str,
        *,
        display_name: str | None = None,
        admin: bool = False,
        password: str | None = None,
        org_id: int | None = None,
    ) -> tuple[User, str | None]:
        """Create a user (an administrator of the organisation when `admin`) with their
        personal mailbox, in one transaction; returns the one-time password if generated
        (the user must change it at first login). With `org_id` the address must be in one
        of that organisation's domains."""
        _require_admin_role(ctx)
        addr = _address(address)
        name = _display_name(display_name, addr.local)
        async with self.deps.db.read() as conn:  # refuse before the costly hash
            found = await self._org_of(conn, ctx, addr.domain)
            if org_id is not None and found != org_id:
                raise AddressRefused(f"{addr.domain} is not a mail domain of this organisation")
            limits = await limits_for(conn, self.deps.settings, found)
            await self._check_free(conn, addr.key)
        generated = None
        if password is None or password == "":
            generated = password = generate_password()
        try:
            check_password(password, limits.min_password_length)
        except InvalidInput as exc:
            raise PasswordRefused(str(exc)) from None
        password_hash = await asyncio.to_thread(self.deps.hasher.hash, password)
        role = Role.ORG_ADMIN if admin else Role.USER
        async with self.deps.db.write() as conn:
            found = await self._org_of(conn, ctx, addr.domain)
            await self._check_free(conn, addr.key)
            user_id = await dir_repo.insert_user(
                conn, org_id=found, address=addr.key, display_name=name, role=role,
                password_hash=password_hash, must_change_password=generated is not None,
            )  # fmt: skip
            await mailbox_repo.insert_mailbox(
                conn, org_id=found, kind=MailboxKind.PERSONAL, address=addr.key,
                display_name=name, owner_user_id=user_id,
            )  # fmt: skip
            await audit(conn, ctx, "user.create", target=addr.key, detail=role, org_id=found)
        return User(user_id, found, addr.key, name, role, False), generated

    async def _check_free(self, conn: AsyncConnection, key: str) -> None:
        taken = await dir_repo.find_user_by_address(conn, key)
        if taken or await mailbox_repo.find_mailbox_by_address(conn, key):
            raise AddressTaken(f"address {key} is already in use")

    def require_importer(self, ctx: AccessContext, org_id: int | None = None) -> int | None:
        """Refuse a caller who may not import users (into `org_id`), before the file is read
        or checked; returns the organisation the import goes to (None: by each address)."""
        _require_admin_role(ctx)
        if org_id is None and ctx.role is Role.ORG_ADMIN:
            org_id = ctx.org_id
        if org_id is not None:
            _require_org(ctx, org_id)
        return org_id

    async def import_users(
        self, ctx: AccessContext, text: str, org_id: int | None = None
    ) -> ImportReport:
        """Create the users of a CSV file (header address,display_name[,role][,password]),
        each row in its own transaction: a refused row creates nothing, the others are
        created. A malformed file is refused whole, before anything is created."""
        org_id = self.require_importer(ctx, org_id)
        report = [await self._import_row(ctx, n, f, org_id) for n, f in parse_import(text)]
        created = sum(1 for r in report if r.created)
        async with self.deps.db.write() as conn:
            await audit(
                conn, ctx, "user.import", target=f"org={org_id or '-'}",
                detail=f"created={created} refused={len(report) - created}", org_id=org_id,
            )  # fmt: skip
        return ImportReport(tuple(report))

    async def _import_row(
        self, ctx: AccessContext, number: int, fields: dict[str, str], org_id: int | None
    ) -> ImportRow:
        address = fields.get("address", "").strip()
        role_text = fields.get("role", "").strip().lower()
        try:
            if "_error" in fields:
                raise InvalidInput(fields["_error"])
            if role_text not in ROLES:
                raise InvalidInput(f"unknown role {role_text!r}: use user or admin")
            user, generated = await self.create_user(
                ctx,
                address,
                display_name=fields.get("display_name", ""),
                admin=ROLES[role_text] is Role.ORG_ADMIN,
                password=fields.get("password") or None,
                org_id=org_id,
            )
        except (InvalidInput, Conflict) as exc:
            return ImportRow(number, address[:254], False, reason=str(exc))
        return ImportRow(number, user.address, True, password=generated)

    async def create_service_admin(
        self, ctx: AccessContext, address: str, *, display_name: str, password: str
    ) -> User:
        """A service administrator's login (no organisation, no mailbox): service admin only."""
        if ctx.role is not Role.SERVICE_ADMIN:
            raise PermissionDenied("only the service administrator may do this")
        addr = _address(address)
        name = _display_name(display_name, addr.local)
        try:
            check_password(password, self.deps.settings.auth.min_password_length)
        except InvalidInput as exc:
            raise PasswordRefused(str(exc)) from None
        password_hash = await asyncio.to_thread(self.deps.hasher.hash, password)
        async with self.deps.db.write() as conn:
            await self._check_free(conn, addr.key)
            user_id = await dir_repo.insert_user(
                conn, org_id=None, address=addr.key, display_name=name,
                role=Role.SERVICE_ADMIN, password_hash=password_hash, must_change_password=False,
            )  # fmt: skip
            await audit(conn, ctx, "user.create", target=addr.key, detail=Role.SERVICE_ADMIN)
        return User(user_id, None, addr.key, name, Role.SERVICE_ADMIN, False)

    # --- administrators ----------------------------------------------------------------------

    async def set_admin(
        self, ctx: AccessContext, address: str, admin: bool, org_id: int | None = None
    ) -> User:
        """Appoint a user administrator of their organisation, or make an administrator a
        user again. The last administrator may not step down (Conflict). With `org_id`, the
        user must belong to that organisation."""
        _require_admin_role(ctx)
        key = _address(address).key
        role = Role.ORG_ADMIN if admin else Role.USER
        async with self.deps.db.write() as conn:
            user = await self._target(conn, ctx, key)
            assert user.org_id is not None
            if org_id is not None and user.org_id != org_id:
                raise NotFound(f"no user {key} in this organisation")
            if user.role is role:
                return user
            stepping_down = not admin and user.id == ctx.user_id
            if stepping_down and await account_repo.count_admins(conn, user.org_id) <= 1:
                raise Conflict(
                    "you are the last administrator of your organisation: appoint another one first"
                )
            await dir_repo.update_user(conn, user.id, role=role.value)
            await audit(conn, ctx, "user.role", target=key, detail=role, org_id=user.org_id)
        return User(user.id, user.org_id, key, user.display_name, role, user.disabled)

    # --- sessions ----------------------------------------------------------------------------

    async def end_sessions(
        self, ctx: AccessContext, address: str, session_id: int | None = None
    ) -> int:
        """End one webmail session of a user (or all of them when `session_id` is None); the
        user's browser is sent to the login page at its next request. How many ended."""
        _require_admin_role(ctx)
        key = _address(address).key
        async with self.deps.db.write() as conn:
            user = await self._target(conn, ctx, key)
            if session_id is None:
                ended = await session_repo.delete_all(conn, user.id)
                detail = f"all={ended}"
            else:
                if not await session_repo.delete_one(conn, user.id, session_id):
                    raise NotFound("no such session")
                ended, detail = 1, f"id={session_id}"
            if ended:
                await audit(conn, ctx, "session.end", target=key, detail=detail,
                            org_id=user.org_id)  # fmt: skip
        return ended

    # --- organisations (service administrator only; nobody else sees they exist) -------------

    async def list_orgs(self, ctx: AccessContext) -> list[OrgOverview]:
        _hide_unless_service_admin(ctx)
        async with self.deps.db.read() as conn:
            orgs = await dir_repo.list_orgs(conn)
            admins = await account_repo.admins_by_org(conn, [o.id for o in orgs])
        return [OrgOverview(o, tuple(admins.get(o.id, ()))) for o in orgs]

    async def create_org(self, ctx: AccessContext, name: str, domain: str) -> Organisation:
        _hide_unless_service_admin(ctx)
        return await self.directory.create_org(ctx, name, domain)

    async def add_domain(self, ctx: AccessContext, org_id: int, domain: str) -> Organisation:
        _hide_unless_service_admin(ctx)
        async with self.deps.db.read() as conn:
            org = await dir_repo.find_org(conn, org_id)
        if org is None:
            raise NotFound("no such organisation")
        return await self.directory.add_domain(ctx, org.name, domain)

    async def appoint_admin(self, ctx: AccessContext, org_id: int, address: str) -> User:
        """The orgs page's appointment: only the service administrator sees that page."""
        _hide_unless_service_admin(ctx)
        return await self.set_admin(ctx, address, True, org_id=org_id)
