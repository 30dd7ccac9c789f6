"""Folder message and unread counts, kept per process and checked against each folder's
UIDNEXT and HIGHESTMODSEQ on every use, so a page of a 100,000-message folder does not count
it again unless something in it changed (on any node: the check reads the database)."""

import dataclasses
from collections import OrderedDict

from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.model import Folder
from securemail.store.repos import mailboxes as mailbox_repo

CAPACITY = 20_000  # (folder, user) pairs remembered; the least recently used go first

# Why (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ) is enough: every message arriving (delivery, APPEND,
# COPY, MOVE in) takes a UID; every \Seen change of any user, every EXPUNGE and every MOVE
# out takes a MODSEQ of the folder (store/repos/messages.py). A count can only change with
# one of them.
_Key = tuple[int, int]  # folder id, user id
_Entry = tuple[int, int, int, int, int]  # uidvalidity, uidnext, highestmodseq, total, unseen


class FolderCounts:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._known: OrderedDict[_Key, _Entry] = OrderedDict()

    async def folders(self, conn: AsyncConnection, mailbox_id: int, user_id: int) -> list[Folder]:
        """The mailbox's folders in display order, each with its total and the user's unseen."""
        listed = await mailbox_repo.list_folders_plain(conn, mailbox_id)
        return [await self._counted(conn, folder, user_id) for folder in listed]

    async def _counted(self, conn: AsyncConnection, folder: Folder, user_id: int) -> Folder:
        key = (folder.id, user_id)
        entry = self._known.get(key)
        state = (folder.uidvalidity, folder.uidnext, folder.highestmodseq)
        if entry is None or entry[:3] != state:
            total, seen = await mailbox_repo.folder_counts(conn, folder.id, user_id)
            entry = (*state, total, max(0, total - seen))
            self._known[key] = entry
            while len(self._known) > self.capacity:
                self._known.popitem(last=False)
        else:
            self._known.move_to_end(key)
        return dataclasses.replace(folder, total=entry[3], unseen=entry[4])
