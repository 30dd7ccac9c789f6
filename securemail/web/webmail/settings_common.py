"""What the settings pages share: the page frame (sidebar, no current mailbox) and the router."""

from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import Request
from starlette.responses import Response

from securemail.web.webmail import sidebar
from securemail.web.webmail.context import Viewer, render, services_of, viewer

Who = Annotated[Viewer, Depends(viewer)]


async def page(
    request: Request, who: Viewer, template: str, *, status: int = 200, **values: Any
) -> Response:
    """A settings page in the common layout: the mailbox list beside it, no mailbox current."""
    entries = await sidebar.mailboxes(services_of(request), who)
    return render(request, template, status_code=status, who=who, entries=entries, **values)


def form_int(form: dict[str, Any], name: str) -> int | None:
    """An integer form field, or None when it is missing or not a number."""
    value = str(form.get(name, "")).strip()
    return int(value) if (value.isascii() and value.isdigit()) and len(value) < 19 else None
