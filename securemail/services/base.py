"""What every service needs: the database, blobs, events, limits, and the rights checks."""

import dataclasses
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.config import Settings
from securemail.core.context import AccessContext
from securemail.core.errors import NotFound, PermissionDenied
from securemail.core.model import Folder, Mailbox
from securemail.core.rights import MailboxKind, Right, effective_rights
from securemail.security.passwords import PasswordHasher
from securemail.services.commit import GroupCommitter
from securemail.services.events import EventBus
from securemail.store.blobs import BlobStore
from securemail.store.db import Database
from securemail.store.repos import audit as audit_repo
from securemail.store.repos import mailboxes as mailbox_repo


@dataclass
class Deps:
    db: Database
    blobs: BlobStore
    events: EventBus
    hasher: PasswordHasher
    settings: Settings
    committer: GroupCommitter
    app_password_key: bytes = b""  # HMAC key for app passwords, kept outside the database


async def rights_on(conn: AsyncConnection, ctx: AccessContext, mailbox: Mailbox) -> Right:
    """The caller's effective rights on `mailbox`, straight from core.rights. A user disabled
    after logging in has none: open sessions lose every mailbox at their next request."""
    granted, disabled = await mailbox_repo.grant_and_standing(conn, mailbox.id, ctx.user_id)
    if disabled:
        return Right.NONE
    return effective_rights(ctx.principal, mailbox_repo.facts(mailbox), [granted])


async def require_mailbox(
    conn: AsyncConnection, ctx: AccessContext, mailbox_id: int, need: Right = Right.READ
) -> Mailbox:
    """The mailbox with the caller's rights; NotFound without READ, PermissionDenied without
    `need`. A mailbox you may not read does not exist for you."""
    mailbox = await mailbox_repo.find_mailbox(conn, mailbox_id)
    if mailbox is None:
        raise NotFound("no such mailbox")
    rights = await rights_on(conn, ctx, mailbox)
    if Right.READ not in rights:
        raise NotFound("no such mailbox")
    if need not in rights:
        raise PermissionDenied(f"you do not have the {_names(need)} right on this mailbox")
    return dataclasses.replace(mailbox, rights=rights)


async def require_folder(
    conn: AsyncConnection, ctx: AccessContext, folder_id: int, need: Right = Right.READ
) -> tuple[Mailbox, Folder]:
    """The folder and its mailbox, under the same rules as require_mailbox."""
    folder = await mailbox_repo.find_folder(conn, folder_id)
    if folder is None:
        raise NotFound("no such folder")
    try:
        mailbox = await require_mailbox(conn, ctx, folder.mailbox_id, need)
    except NotFound:
        raise NotFound("no such folder") from None
    return mailbox, folder


def _names(rights: Right) -> str:
    return "+".join((r.name or "").lower() for r in Right if r and r in rights)


async def audit(
    conn: AsyncConnection,
    ctx: AccessContext,
    action: str,
    *,
    mailbox: str = "",
    target: str = "",
    detail: str = "",
    org_id: int | None = None,
) -> None:
    """Record one audit entry inside the caller's transaction."""
    await audit_repo.append(
        conn,
        actor=ctx.address,
        org_id=org_id if org_id is not None else ctx.org_id,
        action=action,
        mailbox=mailbox,
        target=target,
        detail=f"channel={ctx.channel}"
        + (f" remote={ctx.remote}" if ctx.remote else "")
        + (f" {detail}" if detail else ""),
    )


async def audit_group(
    conn: AsyncConnection,
    ctx: AccessContext,
    mailbox: Mailbox,
    action: str,
    target: str,
    detail: str = "",
) -> None:
    """Audit an action on a group mailbox; actions in one's own mailbox are not audited."""
    if mailbox.kind is MailboxKind.GROUP:
        await audit(
            conn,
            ctx,
            action,
            mailbox=mailbox.address,
            target=target,
            detail=detail,
            org_id=mailbox.org_id,
        )
