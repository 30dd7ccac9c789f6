"""The ASGI app factory: health endpoints for operators and load balancers."""

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from securemail import __version__
from securemail.services.registry import Services


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="securemail",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        """Readiness: the store answers a query."""
        try:
            await services.deps.db.ping()
        except Exception:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok", "version": __version__})

    return app
