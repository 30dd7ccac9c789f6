"""The mailbox switcher and folder tree every mail page shows, and move/copy targets."""

from dataclasses import dataclass

from securemail.core.model import Folder, Mailbox, SpecialUse
from securemail.core.rights import MailboxKind, Right
from securemail.services.registry import Services
from securemail.web.webmail.context import Viewer

SPECIAL_ORDER = {SpecialUse.INBOX: 0, SpecialUse.DRAFTS: 1, SpecialUse.SENT: 2, SpecialUse.TRASH: 3}


@dataclass(frozen=True)
class MailboxEntry:
    mailbox: Mailbox
    folders: list[Folder]
    unread: int  # unread in the INBOX, for this user

    @property
    def inbox(self) -> Folder:
        return next(f for f in self.folders if f.special_use is SpecialUse.INBOX)

    def special(self, use: SpecialUse) -> Folder:
        return next(f for f in self.folders if f.special_use is use)

    @property
    def is_group(self) -> bool:
        return self.mailbox.kind is MailboxKind.GROUP

    def can(self, name: str) -> bool:
        return Right[name.upper()] in self.mailbox.rights


def _sorted(folders: list[Folder]) -> list[Folder]:
    return sorted(
        folders,
        key=lambda f: (SPECIAL_ORDER.get(f.special_use, 9) if f.special_use else 9, f.name.lower()),
    )


async def mailboxes(services: Services, who: Viewer) -> list[MailboxEntry]:
    """Every mailbox the viewer may read: personal first, then groups by name."""
    found = await services.mailboxes.overview(who.ctx)
    found.sort(key=lambda pair: (pair[0].kind is MailboxKind.GROUP, pair[0].display_name.lower()))
    out = []
    for mailbox, unsorted in found:
        folders = _sorted(unsorted)
        unread = sum(f.unseen for f in folders if f.special_use is SpecialUse.INBOX)
        out.append(MailboxEntry(mailbox, folders, unread))
    return out


def current(entries: list[MailboxEntry], mailbox_id: int) -> MailboxEntry | None:
    return next((e for e in entries if e.mailbox.id == mailbox_id), None)


def move_targets(entries: list[MailboxEntry], here: MailboxEntry) -> list[tuple[str, Folder]]:
    """Folders the viewer may file into: WRITE on the target mailbox; leaving this mailbox
    also needs DELETE here (the services refuse anything else anyway)."""
    out = []
    for entry in entries:
        if not entry.can("write"):
            continue
        if entry.mailbox.id != here.mailbox.id and not here.can("delete"):
            continue
        for folder in entry.folders:
            if folder.special_use is SpecialUse.TRASH and not entry.can("delete"):
                continue
            out.append((entry.mailbox.display_name, folder))
    return out


def copy_targets(entries: list[MailboxEntry]) -> list[tuple[str, Folder]]:
    return [(e.mailbox.display_name, f) for e in entries if e.can("write") for f in e.folders]
