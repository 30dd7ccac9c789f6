"""Who may use the admin console, and what every console page shares."""

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import Request
from starlette.responses import HTMLResponse

from securemail.core.errors import NotFound
from securemail.core.model import Mailbox
from securemail.core.rights import MailboxKind, Right, Role
from securemail.web.webmail.context import Viewer, render, services_of, viewer


@dataclass(frozen=True)
class Console:
    """The console's user: an administrator, or a member holding Manage on some groups."""

    who: Viewer
    managed: tuple[Mailbox, ...]  # group mailboxes on which the user holds Manage

    @property
    def is_admin(self) -> bool:
        return self.who.ctx.role in (Role.ORG_ADMIN, Role.SERVICE_ADMIN)

    @property
    def is_service_admin(self) -> bool:
        return self.who.ctx.role is Role.SERVICE_ADMIN


async def console(request: Request, who: Annotated[Viewer, Depends(viewer)]) -> Console:
    """The console for administrators and Manage holders; 404 for anybody else, so the
    console's existence tells a plain user nothing."""
    mailboxes = await services_of(request).mailboxes.list_mailboxes(who.ctx)
    managed = tuple(
        m for m in mailboxes if m.kind is MailboxKind.GROUP and Right.MANAGE in m.rights
    )
    found = Console(who=who, managed=managed)
    if not found.is_admin and not managed:
        raise NotFound("no such page")
    return found


Admin = Annotated[Console, Depends(console)]


def page(
    request: Request, name: str, admin: Console, status_code: int = 200, **values: Any
) -> HTMLResponse:
    """A console page: the admin layout with the navigation the user may use."""
    return render(request, name, status_code=status_code, who=admin.who, admin=admin, **values)
