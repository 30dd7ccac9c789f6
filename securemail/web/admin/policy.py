"""Admin console: an organisation's policy (closed community, message size, session idle time,
password length, second factor) and its TLS-required outbound domains."""

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from securemail.core.errors import Conflict, InvalidInput, NotFound
from securemail.core.model import Organisation, OrgPolicy
from securemail.web.admin.context import Admin, Console, page
from securemail.web.admin.users import org_param
from securemail.web.webmail.context import check_csrf, redirect, services_of

router = APIRouter(include_in_schema=False)

KIB = 1024
# Which field a refusal of the policy service is about (the message names it).
FIELD_WORDS = (
    ("message size", "size"),
    ("idle", "idle"),
    ("password", "password"),
    ("domain", "allowlist"),
)
DONE = {
    "saved": "The policy was saved.",
    "tls-added": "The domain now gets mail only over verified TLS.",
    "tls-removed": "The domain was removed from the TLS-required list.",
}


def _field(message: str) -> str:
    return next((name for word, name in FIELD_WORDS if word in message), "form")


async def _org(request: Request, admin: Console) -> Organisation | None:
    """The organisation the page is about: ?org=<id> for the service administrator (None
    until picked), otherwise the administrator's own. The services decide who may see it."""
    services = services_of(request)
    org_id = org_param(request) or admin.who.ctx.org_id
    if org_id is None:
        return None
    await services.org_policy.get(admin.who.ctx, org_id)  # NotFound / PermissionDenied
    orgs = await services.directory.list_orgs(admin.who.ctx)
    found = next((o for o in orgs if o.id == org_id), None)
    if found is None:
        raise NotFound("no such organisation")
    return found


async def _policy_page(
    request: Request,
    admin: Console,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    sent: dict[str, Any] | None = None,
    notice: str = "",
) -> Response:
    services = services_of(request)
    ctx = admin.who.ctx
    org = await _org(request, admin)
    if org is None:  # the service administrator picks an organisation first
        orgs = await services.directory.list_orgs(ctx)
        return page(request, "admin_policy.html", admin, org=None, orgs=orgs)
    policy = await services.org_policy.get(ctx, org.id)
    tls = await services.policy.list_tls_required(ctx, org.name)
    limits = await services.org_policy.limits(org.id)
    return page(
        request, "admin_policy.html", admin, status_code=status, org=org, policy=policy,
        tls=tls, limits=limits, settings=services.deps.settings, errors=errors or {},
        sent=sent or _sent_of(policy), notice=notice, query=f"?org={org.id}", kib=KIB,
    )  # fmt: skip


def _sent_of(policy: OrgPolicy) -> dict[str, str]:
    """The form's fields for a stored policy (empty: the server's setting applies)."""
    size = policy.max_message_bytes
    return {
        "allowlist": "\n".join(policy.recipient_allowlist),
        "size": str(size // KIB) if size is not None else "",
        "idle": str(policy.session_idle_minutes or ""),
        "password": str(policy.min_password_length or ""),
        "second_factor": "1" if policy.require_second_factor else "",
    }


@router.get("/admin/policy")
async def policy_page(request: Request, admin: Admin, done: str = "") -> Response:
    return await _policy_page(request, admin, notice=DONE.get(done, ""))


def _number(sent: dict[str, str], name: str, what: str) -> int | None:
    value = sent[name].strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 12:
        raise InvalidInput(f"{what} must be a whole number")
    return int(value)


@router.post("/admin/policy")
async def save_policy(request: Request, admin: Admin) -> Response:
    form = await check_csrf(request, admin.who)
    services = services_of(request)
    org = await _org(request, admin)
    if org is None:
        raise NotFound("choose an organisation first")
    sent = {k: str(form.get(k, "")) for k in ("allowlist", "size", "idle", "password")}
    sent["second_factor"] = "1" if form.get("second_factor") == "1" else ""
    try:
        size = _number(sent, "size", "the maximum message size")
        policy = OrgPolicy(
            org_id=org.id,
            recipient_allowlist=tuple(d for d in sent["allowlist"].split() if d),
            max_message_bytes=size * KIB if size is not None else None,
            session_idle_minutes=_number(sent, "idle", "the idle time"),
            min_password_length=_number(sent, "password", "the minimum password length"),
            require_second_factor=sent["second_factor"] == "1",
        )
        await services.org_policy.set(admin.who.ctx, policy)
    except InvalidInput as exc:
        errors = {_field(str(exc)): str(exc)}
        return await _policy_page(request, admin, status=400, errors=errors, sent=sent)
    return redirect(f"/admin/policy?org={org.id}&done=saved")


@router.post("/admin/policy/tls")
async def change_tls(request: Request, admin: Admin) -> Response:
    """Add a domain to, or remove one from, the TLS-required outbound list."""
    form = await check_csrf(request, admin.who)
    services = services_of(request)
    org = await _org(request, admin)
    if org is None:
        raise NotFound("choose an organisation first")
    domain = str(form.get("domain", ""))
    action = str(form.get("action", ""))
    try:
        if action == "add":
            await services.policy.add_tls_required(admin.who.ctx, org.name, domain)
        elif action == "remove":
            await services.policy.remove_tls_required(admin.who.ctx, org.name, domain)
        else:
            raise InvalidInput("unknown action")
    except (InvalidInput, Conflict) as exc:
        policy = await services.org_policy.get(admin.who.ctx, org.id)
        sent = _sent_of(policy)
        sent["tls_domain"] = domain
        errors = {"tls": str(exc)}
        return await _policy_page(request, admin, status=400, errors=errors, sent=sent)
    done = "tls-added" if action == "add" else "tls-removed"
    return redirect(f"/admin/policy?org={org.id}&done={done}")
