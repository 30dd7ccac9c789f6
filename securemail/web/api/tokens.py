"""/api/v1/tokens: the caller's personal API tokens. Creating one needs the web session (a
token cannot mint tokens: the service says so); listing and revoking work either way."""

from typing import Annotated

from fastapi import APIRouter, Path, Request

from securemail.web.api.auth import Auth, services_of
from securemail.web.api.models import MAX_ID
from securemail.web.api.models_admin import TokenCreate, TokenCreated, TokenOut

router = APIRouter(tags=["tokens"])


@router.get("/tokens", response_model=list[TokenOut])
async def list_tokens(request: Request, who: Auth) -> list[TokenOut]:
    """Your tokens, expired ones included; never their secrets."""
    return [TokenOut.of(t) for t in await services_of(request).api_tokens.list(who.ctx)]


@router.post("/tokens", response_model=TokenCreated, status_code=201)
async def create_token(request: Request, who: Auth, body: TokenCreate) -> TokenCreated:
    """A new token, read-only or read-write, living `days` days. The secret is in this
    answer only: keep it now."""
    token, secret = await services_of(request).api_tokens.issue(
        who.ctx, body.label, body.scope, body.days
    )
    return TokenCreated(token=TokenOut.of(token), secret=secret)


@router.delete("/tokens/{token_id}", status_code=204)
async def revoke_token(
    request: Request, who: Auth, token_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> None:
    """Revoke one of your tokens: it stops working at once."""
    await services_of(request).api_tokens.revoke(who.ctx, token_id)
