"""Request and response bodies of the administration, audit and token parts of /api/v1."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from securemail.core.model import AuditEntry, Grant, Mailbox, Organisation, User
from securemail.services.api_tokens import MAX_DAYS, MAX_LABEL, ApiToken
from securemail.web.api.models import LINE, AddressText, Body, RightName, right_names

Password = Annotated[str, Field(min_length=1, max_length=1024)]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=LINE)]


class OrgOut(BaseModel):
    id: int
    name: str
    domains: list[str]

    @classmethod
    def of(cls, org: Organisation) -> "OrgOut":
        return cls(id=org.id, name=org.name, domains=list(org.domains))


class OrgCreate(Body):
    name: Name
    domain: Annotated[str, Field(min_length=1, max_length=255, pattern=LINE)]


class UserOut(BaseModel):
    id: int
    org_id: int | None
    address: str
    display_name: str
    role: Literal["user", "org_admin", "service_admin"]
    disabled: bool
    last_login_at: datetime | None

    @classmethod
    def of(cls, user: User) -> "UserOut":
        return cls(
            id=user.id,
            org_id=user.org_id,
            address=user.address,
            display_name=user.display_name,
            role=user.role.value,
            disabled=user.disabled,
            last_login_at=user.last_login_at,
        )


class UserCreate(Body):
    address: AddressText
    display_name: Name | None = None
    admin: bool = Field(False, description="an administrator of the user's organisation")
    password: Password | None = Field(
        None, description="omit for a one-time password, shown once and changed at first login"
    )


class UserCreated(BaseModel):
    user: UserOut
    one_time_password: str | None


class PasswordReset(Body):
    password: Password | None = Field(None, description="omit for a one-time password")


class PasswordResetResult(BaseModel):
    one_time_password: str | None


class GroupOut(BaseModel):
    id: int
    org_id: int
    address: str
    display_name: str
    disabled: bool

    @classmethod
    def of(cls, m: Mailbox) -> "GroupOut":
        return cls(
            id=m.id,
            org_id=m.org_id,
            address=m.address,
            display_name=m.display_name,
            disabled=m.disabled,
        )


class GroupCreate(Body):
    address: AddressText
    display_name: Name | None = None


class GrantOut(BaseModel):
    user: str
    rights: list[RightName]

    @classmethod
    def of(cls, grant: Grant) -> "GrantOut":
        return cls(user=grant.user_address, rights=right_names(grant.rights))


class GrantSet(Body):
    rights: list[RightName] = Field(
        max_length=5, description="exactly the rights the user holds afterwards; [] revokes all"
    )


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    org_id: int | None
    action: str
    mailbox: str
    target: str
    detail: str
    hash: str

    @classmethod
    def of(cls, e: AuditEntry) -> "AuditOut":
        return cls(
            id=e.id,
            at=e.at,
            actor=e.actor,
            org_id=e.org_id,
            action=e.action,
            mailbox=e.mailbox,
            target=e.target,
            detail=e.detail,
            hash=e.hash,
        )


class AuditPage(BaseModel):
    items: list[AuditOut]
    next_cursor: str | None


class AuditVerification(BaseModel):
    ok: bool
    checked: int
    first_bad_id: int | None
    reason: str


class TokenOut(BaseModel):
    id: int
    label: str
    scope: Literal["read", "write"]
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    expired: bool

    @classmethod
    def of(cls, t: ApiToken) -> "TokenOut":
        return cls(
            id=t.id,
            label=t.label,
            scope=t.scope,
            created_at=t.created_at,
            expires_at=t.expires_at,
            last_used_at=t.last_used_at,
            expired=t.expired(),
        )


class TokenCreate(Body):
    label: Annotated[str, Field(max_length=MAX_LABEL, pattern=LINE)] = ""
    scope: Literal["read", "write"] = "read"
    days: Annotated[int, Field(ge=1, le=MAX_DAYS)] = 90


class TokenCreated(BaseModel):
    token: TokenOut
    secret: str = Field(description="shown once: only its hash is kept")
