"""IDLE (RFC 2177): changes published on the services' event bus reach the client at once.

idle            = "IDLE" CRLF "DONE"
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from securemail.core.events import Event, GrantsChanged, MailboxChanged
from securemail.protocols.imap.errors import Bad
from securemail.protocols.imap.state import Outcome, ok
from securemail.wire.imap.parser import Command

if TYPE_CHECKING:
    from securemail.protocols.imap.session import Session


def _concerns(s: Session, event: Event) -> bool:
    view = s.state.view
    if view is None:
        return False
    if isinstance(event, MailboxChanged):
        return event.folder_id == view.folder.id
    return isinstance(event, GrantsChanged) and event.mailbox_id == view.mailbox.id


def _concerns_any(s: Session, first: Event, queue: asyncio.Queue[Event]) -> bool:
    """Whether `first` or any event already queued behind it concerns the view: one
    refresh answers a burst (a delivery to many, a move of many) instead of one each."""
    concerned = _concerns(s, first)
    while not queue.empty():
        concerned = _concerns(s, queue.get_nowait()) or concerned
    return concerned


async def _report(s: Session) -> None:
    view = s.state.view
    if view is not None:
        for line in await view.refresh(s, allow_expunge=True):
            await s.send(line)


async def idle(s: Session, cmd: Command) -> Outcome:
    if cmd.args:
        raise Bad("IDLE takes no arguments")
    async with s.services.deps.events.subscribe() as queue:
        await s.send(b"+ idling\r\n")
        await _report(s)  # whatever changed before we subscribed
        reader = asyncio.create_task(s.read_line())
        try:
            while True:
                getter = asyncio.create_task(queue.get())
                done, _pending = await asyncio.wait(
                    {reader, getter}, return_when=asyncio.FIRST_COMPLETED
                )
                if getter in done:
                    if _concerns_any(s, getter.result(), queue):
                        await _report(s)
                else:
                    getter.cancel()
                    line = reader.result()
                    if line.strip().upper() != b"DONE":
                        raise Bad("expected DONE")
                    return ok("IDLE terminated")
        finally:
            for task in (reader,):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
