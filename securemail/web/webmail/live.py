"""Live updates: server-sent events tell an open page that its mailboxes changed."""

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import StreamingResponse

from securemail.core.errors import AuthenticationFailed
from securemail.web.webmail.context import Viewer, services_of, viewer

router = APIRouter(include_in_schema=False)
Who = Annotated[Viewer, Depends(viewer)]
KEEPALIVE_SECONDS = 15.0


@router.get("/events")
async def events(request: Request, who: Who) -> StreamingResponse:
    """`changed` events for every mailbox the viewer may read, within a second of a commit;
    the stream ends when the session does (checked at every keep-alive)."""
    services = services_of(request)

    async def stream() -> AsyncIterator[str]:
        yield "retry: 3000\n\n"
        async for event in services.mailboxes.changes(who.ctx, KEEPALIVE_SECONDS):
            if event is None:
                if await request.is_disconnected():
                    return
                try:
                    await services.sessions.resolve(who.token)
                except AuthenticationFailed:
                    return
                yield ": keep-alive\n\n"
                continue
            data = {"mailbox": event.mailbox_id, "folder": event.folder_id, "kind": event.kind}
            yield f"event: changed\ndata: {json.dumps(data)}\n\n"

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)
