"""The JSON API, /api/v1: routers assembled, problem+json errors, and an OpenAPI document that
says exactly what each operation answers (problem+json for every refusal, no 422)."""

import json
from typing import Any

from fastapi import APIRouter, FastAPI

from securemail.web.api import admin, audit, mail, messages, problems, tokens

PREFIX = "/api/v1"

router = APIRouter(prefix=PREFIX, responses=problems.PROBLEM_RESPONSES)
for _part in (mail.router, messages.router, admin.router, audit.router, tokens.router):
    router.include_router(_part)


def install(app: FastAPI) -> None:
    """Mount /api/v1 on the app, answer its errors as problem details, fix up its schema.
    Call after the app's other error handlers are installed: ours wrap theirs."""
    app.include_router(router)
    problems.install(app)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        return _problem_content(generate())

    app.openapi = openapi  # type: ignore[method-assign]


def _problem_content(schema: dict[str, Any]) -> dict[str, Any]:
    """Refusals are application/problem+json; FastAPI's 422 never happens here (invalid
    requests answer 400). Idempotent: the generated document is cached and patched once."""
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith(PREFIX):
            continue
        for operation in operations.values():
            responses = operation.get("responses", {})
            responses.pop("422", None)
            for status, response in responses.items():
                content = response.get("content", {})
                if status[:1] in "45" and "application/json" in content:
                    content[problems.MEDIA_TYPE] = content.pop("application/json")
    schemas = schema.get("components", {}).get("schemas", {})
    text = json.dumps(schema.get("paths", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        if name in schemas and f"/schemas/{name}" not in text:
            del schemas[name]
    return schema
