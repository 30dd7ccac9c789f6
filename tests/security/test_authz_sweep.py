"""Authorisation sweep: every route of the ASGI app, asked by every kind of principal, answers
what the rights model says (allowed, login required, not visible, or forbidden), and a refused
request changes nothing.

The app's routes are enumerated from `app.routes` (included routers and mounts too); a route the
table below does not classify fails `test_every_route_is_classified`, so the sweep stays whole.

How a route's expectation is written: each route names the RULE it obeys, and the rule says,
per principal, one of
  ok     allowed: a 2xx, or a 3xx that does not lead to a login page; for a state-changing request
         a 400/409 about the (deliberately minimal) body also counts: the request passed the gate
  login  login required: 401, or a redirect to /login (or its second-factor step)
  404    not visible: the caller may not know the thing exists (no Read, another organisation)
  403    visible but not allowed (Read without Write, a read-scope token asked to write, ...)

Principals: anonymous; erin (no rights on GM.ZeroTolerance); alice (Read); bob (Read+Write);
carol (Read+Mail); dave (every right, Manage included); admin (the demo organisation's
administrator: administrative roles give no access to mail); service (the service
administrator); other (administrator of ANOTHER organisation). On /api/v1 each signs in with a
write-scope token, and "dave:read" is dave with a read-scope token.

Targets: path parameters are filled with the demo's real ids: the group mailbox, its Inbox, the
enquiry in it; or ("erin" target) erin's own personal mailbox, its Inbox and a message in it, so
every mail route is also asked about somebody else's personal mail.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
from starlette.routing import BaseRoute, Mount

from securemail.core.context import AccessContext
from securemail.services.demo import DEMO_DOMAIN, DEMO_GROUP, DemoResult, load_demo
from securemail.services.registry import Services
from securemail.web.app import create_app
from tests.web.conftest import csrf_of, log_in

OTHER_DOMAIN = "other.example"
PASSWORD = "correct horse battery staple"
SERVICE_ADMIN = "ops@service.example"
WEB_PRINCIPALS = ("anon", "erin", "alice", "carol", "bob", "other", "admin", "service", "dave")
API_PRINCIPALS = (*WEB_PRINCIPALS[:-1], "dave:read", "dave")
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
AUTOCONFIG = {"emailaddress": f"alice@{DEMO_DOMAIN}"}
ERIN_MAIL = (
    b"From: Friend <friend@university.example>\r\nTo: erin@polres.co.uk\r\n"
    b"Subject: personal\r\nMessage-ID: <personal-1@university.example>\r\n\r\nHello Erin\r\n"
)


def route_keys(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(METHOD, path template) of every endpoint, walking included routers and mounts."""
    for found in routes:
        route: Any = found  # FastAPI's included routers are not Starlette routes
        included = getattr(route, "original_router", None)
        if included is not None:  # FastAPI's included router: its own routes under a prefix
            inner_prefix = prefix + route.include_context.prefix
            yield from route_keys(included.routes, inner_prefix)
        elif isinstance(route, Mount):
            yield "GET", prefix + route.path + "/{path}"
        else:
            for method in sorted(getattr(route, "methods", None) or ()):
                if method != "HEAD":  # HEAD is GET without a body: the same gate
                    yield method, prefix + route.path


# -- the rules: who gets what ---------------------------------------------------------------

ALL_OK = dict.fromkeys(API_PRINCIPALS, "ok")
ANY_USER = ALL_OK | {"anon": "login"}
# A group mailbox route needing `right`: no Read (erin, administrators, other organisation)
# hides it; Read without `right` is a 403.
NO_MAIL = {"erin": "404", "admin": "404", "service": "404", "other": "404"}
READERS = ("alice", "bob", "carol", "dave", "dave:read")


def group(holders: Sequence[str]) -> dict[str, str]:
    seen = {p: ("ok" if p in holders else "403") for p in READERS}
    return ANY_USER | NO_MAIL | seen


GROUP_READ = group(READERS)
GROUP_WRITE = group(("bob", "dave"))
GROUP_MAIL = group(("carol", "dave"))
GROUP_DELETE = group(("dave",))
# Erin's personal mailbox: hers alone; nobody else may know it exists.
OWNER = ANY_USER | {p: "404" for p in API_PRINCIPALS if p not in ("anon", "erin")}
# Administration of the demo organisation (target: its users and groups).
ADMINS = ("admin", "service")
_plain = ("erin", "alice", "bob", "carol", "dave", "dave:read")
CONSOLE_ADMIN = ANY_USER | dict.fromkeys((*_plain, "other"), "404")  # console: 404 to non-admins
CONSOLE_ANY_ADMIN = ANY_USER | dict.fromkeys(_plain, "404")  # each admin sees their own
CONSOLE_GROUPS = CONSOLE_ANY_ADMIN | {"dave": "ok"}  # Manage holders see the groups they manage
CONSOLE_GROUP = CONSOLE_ADMIN | {"dave": "ok"}  # the demo group itself
CONSOLE_SERVICE = CONSOLE_ADMIN | {"admin": "404"}  # organisations: the service admin only
# A Manage holder (dave) knows the console exists: its administrators' pages answer him 403;
# its audit pages show him the groups he manages.
for _rule in (CONSOLE_ANY_ADMIN, CONSOLE_ADMIN):
    _rule["dave"] = "403"
CONSOLE_ADMIN_ONLY = dict(CONSOLE_ADMIN)
CONSOLE_GROUPS["dave"] = CONSOLE_GROUP["dave"] = "ok"
CONSOLE_AUDIT = CONSOLE_ANY_ADMIN | {"dave": "ok"}
CONSOLE_POLICY_CHANGE = CONSOLE_ANY_ADMIN | {"service": "404"}  # the service admin has no org
NO_PERSONAL = ANY_USER | {"service": "404"}  # the service admin has no personal mailbox
NOBODYS = ANY_USER | {p: "404" for p in API_PRINCIPALS if p != "anon"}  # an id nobody owns
LOGOUT = dict.fromkeys(API_PRINCIPALS, "login")  # everybody ends up on the login page
TOKENS_MADE_IN_WEBMAIL = ANY_USER | {p: "403" for p in API_PRINCIPALS if p != "anon"}
API_ADMIN = ANY_USER | dict.fromkeys(_plain, "403") | {"other": "404"}
API_ANY_ADMIN = ANY_USER | dict.fromkeys(_plain, "403")
API_SERVICE = API_ANY_ADMIN | {"admin": "403", "other": "403"}
API_GRANTS = API_ADMIN | {"dave": "ok", "dave:read": "ok", "erin": "404"}  # no Read: hidden
API_AUDIT = API_ANY_ADMIN | {"dave": "ok", "dave:read": "ok"}  # Manage: his groups' entries


def writes(rule: dict[str, str]) -> dict[str, str]:
    """The same rule for a state-changing API call: a read-scope token is refused (403)."""
    return rule | {"dave:read": "403"}


@dataclass(frozen=True)
class Probe:
    """One request of the sweep: a route, its target, the body it sends, the rule it obeys."""

    method: str
    template: str
    rule: dict[str, str]
    target: str = "group"  # "group" ids or "erin" ids fill the path
    form: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    query: dict[str, str] = field(default_factory=dict)
    bug: str = ""  # a known defect: the test is xfail(strict=True) with this reason

    def other_404(self) -> "Probe":
        """In the demo organisation's domain: hidden from another organisation's admin."""
        return replace(self, rule=self.rule | {"other": "404"})

    def param(self) -> Any:
        marks = [pytest.mark.xfail(strict=True, reason=self.bug)] if self.bug else []
        return pytest.param(self, id=str(self), marks=marks)

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.template

    def __str__(self) -> str:
        return f"{self.method} {self.template} [{self.target}]"


def mail_probes() -> list[Probe]:
    """Webmail and API mail routes, each on the group mailbox and on erin's personal one."""
    found: list[Probe] = []
    for target, read, write, mail, delete in (
        ("group", GROUP_READ, GROUP_WRITE, GROUP_MAIL, GROUP_DELETE),
        ("erin", OWNER, OWNER, OWNER, OWNER),
    ):
        # Sending "From:" an address is refused with 403: an address is public, not a mailbox
        # to hide (mail is sent to it from anywhere).
        send_as = mail | {p: "403" for p, v in mail.items() if v == "404"}
        # The Inbox is never deleted: whoever may see it is told so (400), after Read.
        delete_inbox = delete | {p: "bad" for p, v in write.items() if v == "ok" != delete[p]}
        found += [
            Probe("GET", "/mail/{mailbox_id:int}", read, target),
            Probe("GET", "/mail/{mailbox_id:int}/{folder_id:int}", read, target),
            Probe("GET", "/mail/{mailbox_id:int}/{folder_id:int}/{message_id:int}", read, target),
            Probe(
                "GET", "/mail/{mailbox_id:int}/{folder_id:int}/{message_id:int}/body", read, target
            ),
            Probe(
                "GET",
                "/mail/{mailbox_id:int}/{folder_id:int}/{message_id:int}/part/{index:int}",
                read,
                target,
            ),
            Probe("GET", "/mail/{mailbox_id:int}/search", read, target),
            Probe("GET", "/mail/{mailbox_id:int}/folders", read, target),
            Probe(
                "POST",
                "/mail/{mailbox_id:int}/folders",
                write,
                target,
                {"action": "create", "name": "Sweep"},
            ),
            Probe(
                "POST",
                "/mail/{mailbox_id:int}/{folder_id:int}/actions",
                read,
                target,
                {"action": "read", "ids": "{message_id}"},
            ),
            Probe("POST", "/mail/{mailbox_id:int}/empty-trash", delete, target),
            Probe("GET", "/api/v1/mailboxes/{mailbox_id}", read, target),
            Probe("GET", "/api/v1/mailboxes/{mailbox_id}/folders", read, target),
            Probe(
                "POST",
                "/api/v1/mailboxes/{mailbox_id}/folders",
                writes(write),
                target,
                json={"name": "Sweep"},
            ),
            Probe("GET", "/api/v1/folders/{folder_id}", read, target),
            Probe(
                "PATCH",
                "/api/v1/folders/{folder_id}",
                writes(write),
                target,
                json={"name": "Renamed"},
            ),
            Probe("DELETE", "/api/v1/folders/{folder_id}", writes(delete_inbox), target),
            Probe("GET", "/api/v1/folders/{folder_id}/messages", read, target),
            Probe("GET", "/api/v1/mailboxes/{mailbox_id}/search", read, target),
            Probe("GET", "/api/v1/messages/{message_id}", read, target),
            Probe("GET", "/api/v1/messages/{message_id}/raw", read, target),
            Probe(
                "PATCH", "/api/v1/messages/{message_id}", writes(read), target, json={"seen": True}
            ),
            Probe(
                "POST",
                "/api/v1/messages/move",
                writes(write),
                target,
                json={"ids": ["{message_id}"], "folder_id": "{folder_id}"},
            ),
            Probe(
                "POST",
                "/api/v1/messages/copy",
                writes(write),
                target,
                json={"ids": ["{message_id}"], "folder_id": "{folder_id}"},
            ),
            Probe("DELETE", "/api/v1/messages/{message_id}", writes(delete), target),
            Probe(
                "POST",
                "/compose",
                send_as,
                target,
                {
                    "from": "{address}",
                    "to": "x@university.example",
                    "subject": "s",
                    "body": "b",
                    "action": "send",
                },
            ),
            Probe(
                "POST",
                "/api/v1/send",
                writes(send_as),
                target,
                json={
                    "from": "{address}",
                    "to": ["x@university.example"],
                    "subject": "s",
                    "body": "b",
                },
            ),
        ]
    return found


def other_probes() -> list[Probe]:
    """Public pages, the user's own settings, the console and the administrative API."""
    own = ANY_USER
    return [
        Probe("GET", "/healthz", ALL_OK),
        Probe("GET", "/readyz", ALL_OK),
        Probe("GET", "/static/{path}", ALL_OK),
        Probe("GET", "/api/v1/openapi.json", ALL_OK),
        Probe("GET", "/mail/config-v1.1.xml", ALL_OK, query=AUTOCONFIG),
        Probe("GET", "/.well-known/autoconfig/mail/config-v1.1.xml", ALL_OK, query=AUTOCONFIG),
        Probe("GET", "/login", ALL_OK),
        Probe("POST", "/login", ALL_OK),
        Probe("GET", "/login/second-factor", ANY_USER),
        Probe("POST", "/login/second-factor", ANY_USER | {"anon": "bad"}),
        Probe("GET", "/", own),
        Probe("GET", "/events", own),
        Probe("GET", "/compose", NO_PERSONAL),
        Probe("GET", "/compose/suggest", own),
        Probe("GET", "/settings", own),
        Probe("GET", "/settings/sessions", own),
        Probe("GET", "/settings/clients", own),
        Probe("GET", "/settings/password", own),
        Probe("POST", "/settings/password", own, form={"old": "x", "new": "y", "repeat": "z"}),
        Probe("GET", "/settings/security", own),
        Probe("POST", "/settings/security/enrol", own),
        Probe("POST", "/settings/security/confirm", own, form={"secret": "x", "code": "1"}),
        Probe("POST", "/settings/security/recovery-codes", own),
        Probe("GET", "/settings/app-passwords", own),
        Probe("POST", "/settings/app-passwords", own),
        Probe("POST", "/settings/app-passwords/revoke", NOBODYS, form={"id": "999999"}),
        Probe("GET", "/settings/api-tokens", own),
        Probe("POST", "/settings/api-tokens", own),
        Probe("POST", "/settings/api-tokens/revoke", OWNER, form={"id": "{erin_token}"}),
        Probe("POST", "/settings/sessions/end", NOBODYS, form={"id": "999999"}),
        Probe("POST", "/logout", LOGOUT),
        Probe("GET", "/api/v1/me", own),
        Probe("GET", "/api/v1/mailboxes", own),
        Probe("GET", "/api/v1/tokens", own),
        Probe("POST", "/api/v1/tokens", TOKENS_MADE_IN_WEBMAIL, json={}),
        Probe("DELETE", "/api/v1/tokens/{token_id}", writes(OWNER)),
        Probe("GET", "/admin", CONSOLE_GROUPS),
        Probe("GET", "/admin/users", CONSOLE_ANY_ADMIN),
        Probe("POST", "/admin/users", CONSOLE_ANY_ADMIN, form={"address": ""}),
        Probe("GET", "/admin/users/import", CONSOLE_ANY_ADMIN),
        Probe("POST", "/admin/users/import", CONSOLE_ANY_ADMIN),
        Probe("GET", "/admin/users/{address:path}", CONSOLE_ADMIN_ONLY, "user"),
        Probe(
            "POST",
            "/admin/users/{address:path}",
            CONSOLE_ADMIN_ONLY,
            "user",
            {"action": "end-sessions"},
        ),
        Probe("GET", "/admin/groups", CONSOLE_GROUPS),
        Probe("POST", "/admin/groups", CONSOLE_ANY_ADMIN, form={"address": ""}),
        Probe("GET", "/admin/groups/{address}", CONSOLE_GROUP),
        Probe(
            "POST",
            "/admin/groups/{address}/members",
            CONSOLE_GROUP,
            form={"user": "alice@polres.co.uk", "rights": "read"},
        ),
        Probe(
            "POST",
            "/admin/groups/{address}/rename",
            CONSOLE_ADMIN,
            form={"display_name": "Zero Tolerance Policing enquiries"},
        ),
        Probe("POST", "/admin/groups/{address}/disable", CONSOLE_ADMIN, form={"disabled": "0"}),
        Probe("POST", "/admin/groups/{address}/delete", CONSOLE_ADMIN),
        Probe("GET", "/admin/policy", CONSOLE_ANY_ADMIN),
        Probe("POST", "/admin/policy", CONSOLE_POLICY_CHANGE),
        Probe("POST", "/admin/policy/tls", CONSOLE_POLICY_CHANGE),
        Probe("GET", "/admin/audit", CONSOLE_AUDIT),
        Probe("GET", "/admin/audit.csv", CONSOLE_AUDIT),
        Probe("GET", "/admin/audit.json", CONSOLE_AUDIT),
        Probe("GET", "/admin/orgs", CONSOLE_SERVICE),
        Probe("POST", "/admin/orgs", CONSOLE_SERVICE),
        Probe("POST", "/admin/orgs/{org_id}", CONSOLE_SERVICE),
        Probe("GET", "/api/v1/orgs", API_ANY_ADMIN),
        Probe(
            "POST",
            "/api/v1/orgs",
            writes(API_SERVICE),
            json={"name": "Sweep", "domain": "sweep.example"},
        ),
        Probe("GET", "/api/v1/users", API_ANY_ADMIN),
        Probe(
            "POST", "/api/v1/users", writes(API_ANY_ADMIN), json={"address": "new@polres.co.uk"}
        ).other_404(),
        Probe("POST", "/api/v1/users/{address}/disable", writes(API_ADMIN), "user"),
        Probe("POST", "/api/v1/users/{address}/enable", writes(API_ADMIN), "user"),
        Probe(
            "POST",
            "/api/v1/users/{address}/reset-password",
            writes(API_ADMIN),
            "user",
            json={"password": PASSWORD},
        ),
        Probe("GET", "/api/v1/groups", API_ANY_ADMIN),
        Probe(
            "POST", "/api/v1/groups", writes(API_ANY_ADMIN), json={"address": "GM.New@polres.co.uk"}
        ).other_404(),
        Probe("GET", "/api/v1/groups/{address}/grants", API_GRANTS),
        Probe(
            "PUT",
            "/api/v1/groups/{address}/grants/{user}",
            writes(API_GRANTS),
            json={"rights": ["read"]},
        ),
        Probe("DELETE", "/api/v1/groups/{address}/grants/{user}", writes(API_GRANTS)),
        Probe("GET", "/api/v1/audit", API_AUDIT),
        Probe("GET", "/api/v1/audit/verify", API_ANY_ADMIN),
    ]


PROBES = mail_probes() + other_probes()


# -- the world: the demo plus another organisation, a service admin, erin's personal mail ------


@dataclass
class World:
    """The demo with every principal signed in: browsers (cookie + CSRF) and API clients."""

    services: Services
    system: AccessContext
    app: Any
    ids: dict[str, dict[str, Any]] = field(default_factory=dict)
    browsers: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    csrf: dict[str, str] = field(default_factory=dict)
    api: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    def client(self, base: str = "http://testserver", **headers: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(transport=transport, base_url=base, headers=headers)

    async def close(self) -> None:
        for client in (*self.browsers.values(), *self.api.values()):
            await client.aclose()

    async def audit_head(self) -> tuple[int, str]:
        return await self.services.audit.head(self.system)


def credentials(demo: DemoResult, name: str) -> tuple[str, str]:
    if name == "service":
        return SERVICE_ADMIN, PASSWORD
    if name == "other":
        return f"boss@{OTHER_DOMAIN}", PASSWORD
    address = f"{name}@{DEMO_DOMAIN}"
    return address, demo.passwords[address]


async def sign_in(world: World, demo: DemoResult, name: str) -> None:
    """A browser session (with its CSRF token) and write- and read-scope API tokens."""
    address, password = credentials(demo, name)
    browser = world.client()
    answer = await log_in(browser, address, password)
    assert answer.status_code == 303, answer.text
    world.browsers[name] = browser
    world.csrf[name] = csrf_of((await browser.get("/settings/api-tokens")).text)
    ctx = await world.services.auth.authenticate(address, password, channel="web")
    for scope, key in (("write", name), ("read", f"{name}:read")):
        secret = await world.services.api_tokens.create(ctx, f"sweep {scope}", scope, 30)
        world.api[key] = world.client(authorization=f"Bearer {secret}")
    world.browsers["anon"] = world.client()
    world.api["anon"] = world.client()


async def mailbox_ids(services: Services, ctx: AccessContext) -> dict[str, Any]:
    """The ids of `ctx`'s first non-personal (else personal) mailbox, its Inbox and a message."""
    boxes = await services.mailboxes.list_mailboxes(ctx)
    box = next((b for b in boxes if b.kind.name == "GROUP"), boxes[0])
    folders = await services.mailboxes.list_folders(ctx, box.id)
    inbox = next(f for f in folders if f.name.upper() == "INBOX")
    message = (await services.messages.list_messages(ctx, inbox.id))[0]
    return {"mailbox_id": box.id, "folder_id": inbox.id, "message_id": message.id,
            "index": 0, "address": box.address}  # fmt: skip


async def build_world(services: Services, system: AccessContext, demo: DemoResult) -> World:
    await services.directory.create_org(system, "Other Constabulary", OTHER_DOMAIN)
    await services.directory.create_user(
        system, f"boss@{OTHER_DOMAIN}", display_name="Boss", admin=True, password=PASSWORD
    )
    await services.accounts.create_service_admin(
        system, SERVICE_ADMIN, display_name="Operator", password=PASSWORD
    )
    await services.delivery.deliver(system, ERIN_MAIL, [f"erin@{DEMO_DOMAIN}"])
    world = World(services, system, create_app(services))
    for name in ("dave", "erin"):
        address, password = credentials(demo, name)
        ctx = await services.auth.authenticate(address, password, channel="web")
        world.ids["group" if name == "dave" else "erin"] = await mailbox_ids(services, ctx)
    erin_ctx = await services.auth.authenticate(*credentials(demo, "erin"), channel="web")
    await services.api_tokens.create(erin_ctx, "erin's own", "read", 30)
    token_id = (await services.api_tokens.list(erin_ctx))[-1].id
    orgs = await services.directory.list_orgs(system)
    common = {"token_id": token_id, "erin_token": token_id, "user": f"alice@{DEMO_DOMAIN}",
              "org_id": next(o.id for o in orgs if o.name != "Other Constabulary"),
              "path": "app.css"}  # fmt: skip
    for ids in world.ids.values():
        ids |= common
    world.ids["group"]["address"] = DEMO_GROUP
    world.ids["user"] = world.ids["group"] | {"address": f"bob@{DEMO_DOMAIN}"}
    for name in WEB_PRINCIPALS[1:]:
        await sign_in(world, demo, name)
    return world


@pytest.fixture
async def world(services: Services, system: AccessContext) -> AsyncIterator[World]:
    found = await build_world(services, system, await load_demo(services, system))
    yield found
    await found.close()


# -- asking and judging ------------------------------------------------------------------------


def fill(text: str, ids: dict[str, Any]) -> str:
    out = text
    for name, value in ids.items():
        for suffix in (":int", ":path", ""):
            out = out.replace("{" + name + suffix + "}", str(value))
    return out


def fill_json(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: fill_json(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_json(v, ids) for v in value]
    if isinstance(value, str) and value.startswith("{") and value[1:-1] in ids:
        found = ids[value[1:-1]]
        return found if isinstance(found, int) else str(found)
    return fill(value, ids) if isinstance(value, str) else value


async def send(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """Send and read the answer; an event stream (/events) never ends, so it is judged by its
    head alone (httpx's ASGI transport would wait for the body for ever)."""
    if request.url.path == "/events":
        return await stream_head(client, request)
    return await client.send(request)


def cookie_of(client: httpx.AsyncClient) -> bytes:
    return "; ".join(f"{k}={v}" for k, v in client.cookies.items()).encode()


async def stream_head(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """Drive the ASGI app by hand: the response's start, then the client hangs up."""
    transport: Any = client._transport  # the ASGITransport the World built
    app = transport.app
    started = asyncio.Event()
    head: dict[str, Any] = {}
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await started.wait()
        return {"type": "http.disconnect"}

    async def send_(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            head.update(message)
            started.set()

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": request.method, "scheme": "http", "path": request.url.path,
             "raw_path": request.url.raw_path, "query_string": b"", "root_path": "",
             "headers": [*request.headers.raw, (b"cookie", cookie_of(client))],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}  # fmt: skip
    task = asyncio.create_task(app(scope, receive, send_))
    async with asyncio.timeout(10):
        await started.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return httpx.Response(head["status"], headers=head.get("headers", []), request=request)


def build_request(world: World, probe: Probe, who: str) -> tuple[httpx.AsyncClient, httpx.Request]:
    ids = world.ids[probe.target]
    url = fill(probe.template, ids)
    if url.startswith("/api/"):
        client = world.api[who]
        body = fill_json(probe.json, ids) if probe.json is not None else None
        return client, client.build_request(probe.method, url, json=body)
    client = world.browsers[who]
    if probe.method == "GET":
        return client, client.build_request("GET", url, params=probe.query)
    form = {k: fill(str(v), ids) for k, v in probe.form.items()}
    form["csrf"] = world.csrf.get(who, "")
    return client, client.build_request(probe.method, url, data=form)


async def ask(world: World, probe: Probe, who: str) -> httpx.Response:
    return await send(*build_request(world, probe, who))


def outcome(probe: Probe, answer: httpx.Response) -> str:
    """What the answer means to the caller: ok / login / 404 / 403 / the raw status."""
    status = answer.status_code
    location = answer.headers.get("location", "")
    if status == 401 or (300 <= status < 400 and location.startswith("/login")):
        return "login"
    if status < 400:
        return "ok"
    if status in (400, 409) and probe.method in STATE_CHANGING:
        return "bad"  # through the gate (if allowed), refused for its (minimal) body
    return str(status)


def matches(expected: str, seen: str) -> bool:
    return seen == expected or (expected, seen) == ("ok", "bad")


def test_every_route_is_classified(services: Services) -> None:
    app = create_app(services)
    enumerated = set(route_keys(app.routes))
    classified = {probe.key for probe in PROBES}
    assert enumerated - classified == set(), "routes the sweep does not classify"
    assert classified - enumerated == set(), "the sweep names routes the app does not have"


@pytest.mark.parametrize("probe", [probe.param() for probe in PROBES])
async def test_route_answers_each_principal_as_its_rule_says(world: World, probe: Probe) -> None:
    principals = API_PRINCIPALS if probe.template.startswith("/api/") else WEB_PRINCIPALS
    seen: dict[str, str] = {}
    for who in principals:
        before = await world.audit_head()
        answer = await ask(world, probe, who)
        seen[who] = outcome(probe, answer)
        if probe.method in STATE_CHANGING and seen[who] in ("login", "403", "404"):
            assert await world.audit_head() == before, f"{who}: refused, yet audited a change"
    expected = {who: probe.rule[who] for who in principals}
    wrong = {who: f"{seen[who]} (expected {expected[who]})" for who in principals
             if not matches(expected[who], seen[who])}  # fmt: skip
    assert wrong == {}, f"{probe}: {wrong}"
