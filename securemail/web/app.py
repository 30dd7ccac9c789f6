"""The ASGI app factory: webmail, health endpoints, mail-client autoconfiguration."""

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from securemail import __version__
from securemail.core.addresses import normalise_domain
from securemail.core.errors import InvalidInput
from securemail.services.registry import Services
from securemail.web import admin, api, errors, health
from securemail.web.autoconfig import config_xml
from securemail.web.health import Readiness
from securemail.web.security import security_headers
from securemail.web.webmail import ROUTERS
from securemail.web.webmail.context import make_templates

STATIC = Path(__file__).resolve().parent / "static"


def create_app(services: Services, readiness: Readiness | None = None) -> FastAPI:
    app = FastAPI(
        title="securemail",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.services = services
    app.state.readiness = readiness if readiness is not None else Readiness()
    app.state.templates = make_templates()
    app.middleware("http")(security_headers(services.deps.settings.http.max_request_bytes))
    errors.install(app)
    api.install(app)  # /api/v1 and its problem+json errors (after errors: wraps them)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in (health.router, *ROUTERS, *admin.ROUTERS):
        app.include_router(router)

    @app.get("/.well-known/autoconfig/mail/config-v1.1.xml", include_in_schema=False)
    @app.get("/mail/config-v1.1.xml", include_in_schema=False)
    async def autoconfig(request: Request) -> Response:
        """Autoconfiguration for mail clients; the address's domain must be one of ours."""
        address = request.query_params.get("emailaddress", "")
        domain = address.rpartition("@")[2] or (request.url.hostname or "").removeprefix(
            "autoconfig."
        )
        try:
            domain = normalise_domain(domain)
        except InvalidInput:
            return Response("unknown domain", status_code=404, media_type="text/plain")
        if not await services.directory.is_local_domain(domain):
            return Response("unknown domain", status_code=404, media_type="text/plain")
        body = config_xml(services.deps.settings, domain)
        return Response(body, media_type="application/xml")

    return app
