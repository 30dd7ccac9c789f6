"""Settings: the second factor (TOTP enrolment with a QR code) and recovery codes."""

import re

import segno
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from securemail.core.errors import InvalidInput
from securemail.security import totp
from securemail.web.webmail.context import Viewer, check_csrf, redirect, services_of
from securemail.web.webmail.settings_common import Who, page

router = APIRouter(include_in_schema=False)
BASE32_SECRET = re.compile(r"[A-Z2-7]{16,128}")


async def _overview(
    request: Request, who: Viewer, *, error: str = "", status: int = 200
) -> Response:
    services = services_of(request)
    enrolled = await services.credentials.has_second_factor(who.ctx)
    left = await services.sessions.recovery_codes_left(who.ctx) if enrolled else 0
    required = who.session.duty == "second-factor"
    return await page(
        request, who, "settings_security.html", status=status,
        enrolled=enrolled, codes_left=left, required=required, error=error,
    )  # fmt: skip


async def _enrol_page(
    request: Request, who: Viewer, secret: str, *, error: str = "", status: int = 200
) -> Response:
    """The QR code of the secret for an authenticator app, and the secret for typing in."""
    uri = totp.provisioning_uri(secret, who.ctx.address)
    qr = segno.make(uri, error="m").svg_data_uri(scale=4)
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return await page(
        request, who, "settings_enrol.html", status=status,
        secret=secret, grouped=grouped, qr=qr, error=error,
    )  # fmt: skip


@router.get("/settings/security")
async def security_page(request: Request, who: Who) -> Response:
    return await _overview(request, who)


@router.post("/settings/security/enrol")
async def begin_enrolment(request: Request, who: Who) -> Response:
    """A fresh secret and its QR code; nothing is stored until the user confirms a code."""
    await check_csrf(request, who)
    services = services_of(request)
    if await services.credentials.has_second_factor(who.ctx):
        return redirect("/settings/security")  # re-enrolment is the administrator's reset
    secret, _uri = services.credentials.begin_totp(who.ctx)
    return await _enrol_page(request, who, secret)


@router.post("/settings/security/confirm")
async def confirm_enrolment(request: Request, who: Who) -> Response:
    """Enrol once the code matches, then show the first recovery codes (once)."""
    form = await check_csrf(request, who)
    services = services_of(request)
    if await services.credentials.has_second_factor(who.ctx):
        return redirect("/settings/security")
    secret = str(form.get("secret", "")).strip()
    if not BASE32_SECRET.fullmatch(secret):
        raise InvalidInput("the enrolment form was altered: start again")
    try:
        await services.credentials.confirm_totp(who.ctx, secret, str(form.get("code", "")))
    except InvalidInput as exc:
        return await _enrol_page(request, who, secret, error=str(exc), status=400)
    codes = await services.sessions.new_recovery_codes(who.ctx)
    return await page(request, who, "settings_codes.html", codes=codes, enrolled_now=True)


@router.post("/settings/security/recovery-codes")
async def new_recovery_codes(request: Request, who: Who) -> Response:
    """Ten new recovery codes, shown once; the earlier ones stop working."""
    await check_csrf(request, who)
    services = services_of(request)
    if not await services.credentials.has_second_factor(who.ctx):
        return await _overview(request, who, error="Set up a second factor first.", status=400)
    codes = await services.sessions.new_recovery_codes(who.ctx)
    return await page(request, who, "settings_codes.html", codes=codes, enrolled_now=False)
