"""Health endpoints for load balancers: /healthz (liveness) and /readyz (readiness)."""

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from securemail import __version__
from securemail.services.registry import Services


@dataclass
class Readiness:
    """Whether this node should get new work; `serve` sets `draining` on SIGTERM, first of
    all, so the balancer moves traffic away before the listeners close."""

    draining: bool = False


router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> PlainTextResponse:
    """Liveness: the process answers (a balancer restarts nothing on this; it is cheap)."""
    return PlainTextResponse("ok")


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Readiness: 200 while the database answers a trivial query and the node is not
    draining; 503 otherwise, so the balancer sends new clients to another node."""
    readiness: Readiness = request.app.state.readiness
    if readiness.draining:
        return JSONResponse({"status": "draining"}, status_code=503)
    services: Services = request.app.state.services
    try:
        await services.deps.db.ping()
    except Exception:
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok", "version": __version__})
