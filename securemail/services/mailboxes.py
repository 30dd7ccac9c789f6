"""Mailboxes a user may open, and their folders."""

import asyncio
import dataclasses
from collections.abc import AsyncIterator

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.addresses import parse_address
from securemail.core.context import AccessContext
from securemail.core.errors import Conflict, InvalidInput, NotFound, QuotaExceeded
from securemail.core.events import MailboxChanged
from securemail.core.model import FOLDER_SEPARATOR, Folder, Mailbox
from securemail.core.rights import Right, effective_rights
from securemail.services.base import Deps, audit_group, require_folder, require_mailbox
from securemail.store.repos import mailboxes as mailbox_repo


def validate_folder_name(name: str, max_length: int) -> str:
    """A folder path such as `Cases/2026`: no control characters, no empty segments."""
    clean = name.strip()
    if not clean:
        raise InvalidInput("folder name is empty")
    if len(clean) > max_length:
        raise InvalidInput(f"folder name longer than {max_length} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in clean) or any(c in clean for c in "*%"):
        raise InvalidInput("folder name contains a forbidden character")
    parts = clean.split(FOLDER_SEPARATOR)
    if any(not p.strip() for p in parts):
        raise InvalidInput("folder name has an empty part between separators")
    if parts[0].upper() == "INBOX":
        raise InvalidInput("INBOX is reserved")
    return FOLDER_SEPARATOR.join(p.strip() for p in parts)


class MailboxService:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def list_mailboxes(self, ctx: AccessContext) -> list[Mailbox]:
        """The personal mailbox and every group mailbox the caller may read, with their rights."""
        async with self.deps.db.read() as conn:
            return await self._readable(conn, ctx)

    async def overview(self, ctx: AccessContext) -> list[tuple[Mailbox, list[Folder]]]:
        """Every mailbox the caller may read with its folders and counts (what list_mailboxes
        and list_folders give), in one read transaction: what a webmail page shows beside it."""
        async with self.deps.db.read() as conn:
            found = await self._readable(conn, ctx)
            listed = await mailbox_repo.folders_of(conn, [m.id for m in found], ctx.user_id)
            return [(m, listed.get(m.id, [])) for m in found]

    async def _readable(self, conn: AsyncConnection, ctx: AccessContext) -> list[Mailbox]:
        _none, disabled = await mailbox_repo.grant_and_standing(conn, 0, ctx.user_id)
        if disabled:  # disabled after logging in: nothing is visible any more
            return []
        rows = await mailbox_repo.list_candidate_mailboxes(conn, ctx.user_id, ctx.org_id)
        out = []
        for mailbox, granted in rows:
            rights = effective_rights(ctx.principal, mailbox_repo.facts(mailbox), [granted])
            if Right.READ in rights:
                out.append(dataclasses.replace(mailbox, rights=rights))
        return out

    async def changes(
        self, ctx: AccessContext, keepalive: float = 15.0
    ) -> AsyncIterator[MailboxChanged | None]:
        """Changes committed in mailboxes the caller may read, as they happen (webmail live
        updates); None after `keepalive` quiet seconds, when the rights are checked again."""
        readable = {m.id for m in await self.list_mailboxes(ctx)}
        async with self.deps.events.subscribe() as queue:
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), keepalive)
                except TimeoutError:
                    readable = {m.id for m in await self.list_mailboxes(ctx)}
                    yield None
                    continue
                if isinstance(event, MailboxChanged) and event.mailbox_id in readable:
                    yield event

    async def get_mailbox(self, ctx: AccessContext, mailbox_id: int) -> Mailbox:
        async with self.deps.db.read() as conn:
            return await require_mailbox(conn, ctx, mailbox_id)

    async def get_mailbox_by_address(self, ctx: AccessContext, address: str) -> Mailbox:
        key = parse_address(address).key
        async with self.deps.db.read() as conn:
            mailbox = await mailbox_repo.find_mailbox_by_address(conn, key)
            if mailbox is None:
                raise NotFound("no such mailbox")
            return await require_mailbox(conn, ctx, mailbox.id)

    async def get_personal_mailbox(self, ctx: AccessContext) -> Mailbox:
        async with self.deps.db.read() as conn:
            mailbox = await mailbox_repo.find_personal_mailbox(conn, ctx.user_id)
            if mailbox is None:
                raise NotFound("no personal mailbox")
            return await require_mailbox(conn, ctx, mailbox.id)

    async def list_folders(self, ctx: AccessContext, mailbox_id: int) -> list[Folder]:
        async with self.deps.db.read() as conn:
            await require_mailbox(conn, ctx, mailbox_id)
            return await mailbox_repo.list_folders(conn, mailbox_id, ctx.user_id)

    async def get_folder(self, ctx: AccessContext, folder_id: int, counts: bool = False) -> Folder:
        """The folder; with `counts`, also its message count and the caller's unread count
        (a count of the caller's seen rows: left out where a page does not show it)."""
        async with self.deps.db.read() as conn:
            mailbox, folder = await require_folder(conn, ctx, folder_id)
            if not counts:
                return folder
            counted = await mailbox_repo.list_folders(conn, mailbox.id, ctx.user_id)
            return next((f for f in counted if f.id == folder_id), folder)

    async def find_folder_by_name(self, ctx: AccessContext, mailbox_id: int, name: str) -> Folder:
        async with self.deps.db.read() as conn:
            await require_mailbox(conn, ctx, mailbox_id)
            folder = await mailbox_repo.find_folder_by_name(conn, mailbox_id, name)
            if folder is None:
                raise NotFound("no such folder")
            return folder

    async def create_folder(self, ctx: AccessContext, mailbox_id: int, name: str) -> Folder:
        limits = self.deps.settings.limits
        clean = validate_folder_name(name, limits.max_folder_name)
        async with self.deps.db.write() as conn:
            mailbox = await require_mailbox(conn, ctx, mailbox_id, Right.WRITE)
            if await mailbox_repo.count_folders(conn, mailbox_id) >= limits.max_folders_per_mailbox:
                raise QuotaExceeded(
                    f"a mailbox holds at most {limits.max_folders_per_mailbox} folders"
                )
            if await mailbox_repo.find_folder_by_name(conn, mailbox_id, clean):
                raise Conflict(f"folder {clean!r} already exists")
            try:
                folder_id = await mailbox_repo.insert_folder(conn, mailbox_id, clean)
            except IntegrityError:
                raise Conflict(f"folder {clean!r} already exists") from None
            await self._audit_group(conn, ctx, mailbox, "folder.create", clean)
            folder = await mailbox_repo.find_folder(conn, folder_id)
        self.deps.events.publish(MailboxChanged(mailbox_id, folder_id, "folders"))
        assert folder is not None
        return folder

    async def rename_folder(self, ctx: AccessContext, folder_id: int, new_name: str) -> Folder:
        """Rename a folder and its subfolders (RFC 3501 6.3.5); standard folders stay put."""
        clean = validate_folder_name(new_name, self.deps.settings.limits.max_folder_name)
        async with self.deps.db.write() as conn:
            mailbox, folder = await require_folder(conn, ctx, folder_id, Right.WRITE)
            if folder.special_use is not None:
                raise InvalidInput(f"the {folder.name} folder cannot be renamed")
            if await mailbox_repo.find_folder_by_name(conn, mailbox.id, clean):
                raise Conflict(f"folder {clean!r} already exists")
            if clean.startswith(folder.name + FOLDER_SEPARATOR):
                raise InvalidInput("a folder cannot be moved inside itself")
            prefix = folder.name + FOLDER_SEPARATOR
            for child in await mailbox_repo.list_folders_plain(conn, mailbox.id):
                if child.name.startswith(prefix):
                    renamed = clean + FOLDER_SEPARATOR + child.name[len(prefix) :]
                    await mailbox_repo.rename_folder(conn, child.id, renamed)
            await mailbox_repo.rename_folder(conn, folder_id, clean)
            await self._audit_group(
                conn, ctx, mailbox, "folder.rename", f"{folder.name} -> {clean}"
            )
            renamed_folder = await mailbox_repo.find_folder(conn, folder_id)
        self.deps.events.publish(MailboxChanged(mailbox.id, folder_id, "folders"))
        assert renamed_folder is not None
        return renamed_folder

    async def delete_folder(self, ctx: AccessContext, folder_id: int) -> None:
        """Delete an empty user folder without subfolders: a folder delete never destroys mail."""
        async with self.deps.db.write() as conn:
            mailbox, folder = await require_folder(conn, ctx, folder_id, Right.WRITE)
            if folder.special_use is not None:
                raise InvalidInput(f"the {folder.name} folder cannot be deleted")
            if not await mailbox_repo.folder_is_empty(conn, folder_id):
                raise Conflict(f"folder {folder.name!r} is not empty")
            prefix = folder.name + FOLDER_SEPARATOR
            children = await mailbox_repo.list_folders_plain(conn, mailbox.id)
            if any(c.name.startswith(prefix) for c in children):
                raise Conflict(f"folder {folder.name!r} has subfolders")
            await mailbox_repo.delete_folder(conn, folder_id)
            await self._audit_group(conn, ctx, mailbox, "folder.delete", folder.name)
        self.deps.events.publish(MailboxChanged(mailbox.id, folder_id, "folders"))

    async def list_subscriptions(self, ctx: AccessContext) -> list[tuple[int, str]]:
        """(mailbox id, folder name) the caller subscribed to in IMAP, in mailboxes they read."""
        readable = {m.id for m in await self.list_mailboxes(ctx)}
        async with self.deps.db.read() as conn:
            rows = await mailbox_repo.list_subscriptions(conn, ctx.user_id)
        return [(mailbox_id, name) for mailbox_id, name in rows if mailbox_id in readable]

    async def set_subscription(
        self, ctx: AccessContext, mailbox_id: int, name: str, subscribed: bool
    ) -> None:
        """IMAP SUBSCRIBE / UNSUBSCRIBE (RFC 3501 6.3.6): READ on the mailbox is enough."""
        if not name or len(name) > self.deps.settings.limits.max_folder_name:
            raise InvalidInput("bad folder name")
        async with self.deps.db.write() as conn:
            await require_mailbox(conn, ctx, mailbox_id)
            await mailbox_repo.set_subscription(conn, ctx.user_id, mailbox_id, name, subscribed)

    async def _audit_group(
        self, conn: AsyncConnection, ctx: AccessContext, mailbox: Mailbox, action: str, target: str
    ) -> None:
        await audit_group(conn, ctx, mailbox, action, target)
