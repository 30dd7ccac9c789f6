"""The admin console's audit log: who sees which entries (service administrator, this and
another organisation's administrator, a Manage holder, plain users), filters, cursor paging,
CSV and JSON export (with spreadsheet formula cells defused), and the chain banner."""

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import text

from securemail.core.errors import InvalidInput, NotFound, PermissionDenied
from securemail.core.rights import Right
from securemail.services.demo import DEMO_DOMAIN
from tests.web.test_admin_groups import (
    ACTORS,
    GROUP,
    OTHER_ADMIN,
    OTHER_GROUP,
    PASSWORD,
    SPARE,
    Cast,
    cast,
    outcome,
    snapshot,
    url,
)

__all__ = ["cast"]  # the fixture, shared with the group tests


def rows(html: str) -> list[dict[str, str]]:
    """The audit table as the page shows it: actor, action, mailbox of each entry."""
    out = []
    for row in re.findall(r"<tr data-entry=.*?</tr>", html, re.S):
        cells = dict(re.findall(r'<td class="(\w+)">([^<]*)</td>', row))
        out.append(cells)
    return out


def banner(html: str) -> str | None:
    found = re.search(r'data-chain="(yes|no)"', html)
    return found.group(1) if found else None


# --- the matrix -----------------------------------------------------------------------------

PATHS = {
    "view": "/admin/audit",
    "filter": f"/admin/audit?mailbox={quote(GROUP)}",
    "csv": "/admin/audit.csv",
    "json": "/admin/audit.json",
}
STATUS = outcome("200 200 200 200 404 404")


@pytest.mark.parametrize("who", ACTORS)
@pytest.mark.parametrize("what", list(PATHS))
async def test_audit_matrix(cast: Cast, what: str, who: str) -> None:
    """Everyone allowed gets 200 and only what is theirs; plain users get 404, and looking
    changes nothing."""
    await cast.post("admin", url(GROUP, "/rename"), {"display_name": "Renamed"})
    await cast.post("other", url(OTHER_GROUP, "/rename"), {"display_name": "B renamed"})
    await cast.client(who)
    before = await snapshot(cast.services, cast.system)
    answer = await cast.get(who, PATHS[what])
    assert answer.status_code == STATUS[who], answer.text[:300]
    assert await snapshot(cast.services, cast.system) == before
    if answer.status_code != 200:
        assert "Renamed" not in answer.text and "group.rename" not in answer.text
        return
    if what in ("view", "filter"):
        seen = rows(answer.text)
        mailboxes = {r["mailbox"] for r in seen}
        actions = {r["action"] for r in seen}
    elif what == "csv":
        seen = list(csv.DictReader(io.StringIO(answer.text)))
        mailboxes, actions = {r["mailbox"] for r in seen}, {r["action"] for r in seen}
        assert answer.headers["content-disposition"].startswith("attachment;")
    else:
        seen = json.loads(answer.text)
        mailboxes, actions = {r["mailbox"] for r in seen}, {r["action"] for r in seen}
        assert answer.headers["content-disposition"].startswith("attachment;")
    polres = {m for m in mailboxes if m.endswith("@polres.co.uk")}
    if who == "other":  # their own organisation only: a polres filter finds nothing
        assert not polres and mailboxes <= {"", OTHER_GROUP}
        assert seen == [] if what == "filter" else OTHER_GROUP in mailboxes
    elif what == "filter":
        assert mailboxes == {GROUP} and "group.rename" in actions
    elif who == "dave":  # the groups he manages, nothing else of the organisation
        assert mailboxes == {GROUP, SPARE} and "user.create" not in actions
    else:  # the administrators of polres and the service administrator
        assert {GROUP, SPARE} <= mailboxes and "user.create" in actions
        assert (OTHER_GROUP in mailboxes) == (who == "service")
    if what == "view":
        assert banner(answer.text) == (None if who == "dave" else "yes")


# --- what each one sees ---------------------------------------------------------------------


async def test_filter_by_mailbox_shows_only_that_mailbox(cast: Cast) -> None:
    await cast.post("admin", url(SPARE, "/rename"), {"display_name": "Spare renamed"})
    everything = rows((await cast.get("admin", "/admin/audit")).text)
    assert {r["mailbox"] for r in everything} >= {GROUP, SPARE, ""}
    only = rows((await cast.get("admin", f"/admin/audit?mailbox={quote(SPARE)}")).text)
    assert only and {r["mailbox"] for r in only} == {SPARE}
    assert [r["action"] for r in only] == ["group.rename", "grant", "group.create"]


async def test_manage_holder_sees_only_their_groups(cast: Cast) -> None:
    await cast.services.directory.create_group(cast.system, "GM.Hidden@polres.co.uk", "Hidden")
    await cast.services.sharing.grant(
        cast.system, "GM.Hidden@polres.co.uk", f"alice@{DEMO_DOMAIN}", Right.READ
    )
    page = (await cast.get("dave", "/admin/audit")).text
    assert {r["mailbox"] for r in rows(page)} == {GROUP, SPARE}
    assert "gm.hidden" not in page and "user.create" not in page
    # Another group: 404 while dave cannot see it; 403 once he can read but not manage it.
    hidden = "/admin/audit?mailbox=GM.Hidden%40polres.co.uk"
    assert (await cast.get("dave", hidden)).status_code == 404
    await cast.services.sharing.grant(
        cast.system, "GM.Hidden@polres.co.uk", f"dave@{DEMO_DOMAIN}", Right.READ
    )
    assert (await cast.get("dave", hidden)).status_code == 403
    assert (
        await cast.get("dave", "/admin/audit.csv?mailbox=GM.Hidden%40polres.co.uk")
    ).status_code == 403
    # The verdict on the chain is for administrators.
    dave = await cast.demo_ctx("dave")
    with pytest.raises(PermissionDenied):
        await cast.services.audit.chain_status(dave)


async def test_filters_actor_action_and_dates(cast: Cast) -> None:
    await cast.post("admin", url(GROUP, "/rename"), {"display_name": "One"})
    await cast.post(
        "dave",
        url(GROUP, "/members"),
        {"user": f"erin@{DEMO_DOMAIN}", "rights": ["read"], "row": "__new__"},
    )
    by_dave = rows((await cast.get("admin", f"/admin/audit?actor=DAVE%40{DEMO_DOMAIN}")).text)
    assert by_dave and {r["actor"] for r in by_dave} == {f"dave@{DEMO_DOMAIN}"}
    assert "grant" in {r["action"] for r in by_dave}
    group_actions = rows((await cast.get("admin", "/admin/audit?action=group.*")).text)
    assert {r["action"] for r in group_actions} == {"group.create", "group.rename"}
    exact = rows((await cast.get("admin", "/admin/audit?action=group.rename")).text)
    assert [r["action"] for r in exact] == ["group.rename"]
    today = datetime.now(UTC).date()
    tomorrow = today + timedelta(days=1)
    assert rows((await cast.get("admin", f"/admin/audit?from={today}&to={today}")).text)
    assert rows((await cast.get("admin", f"/admin/audit?from={tomorrow}")).text) == []
    assert (
        rows((await cast.get("admin", f"/admin/audit?to={today - timedelta(days=1)}")).text) == []
    )
    bad = await cast.get("admin", "/admin/audit?from=26/11/2026")
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text and rows(bad.text) == []
    bad = await cast.get("admin", "/admin/audit?mailbox=not+an+address")
    assert bad.status_code == 400
    bad = await cast.get("admin", "/admin/audit?cursor=%C2%B2")
    assert bad.status_code == 400 and "cursor" in bad.text


async def test_cursor_paging_walks_every_entry_once(cast: Cast) -> None:
    for n in range(60):
        await cast.services.groups.rename(cast.system, GROUP, f"Name {n}")
    admin = await cast.demo_ctx("admin")
    seen: list[int] = []
    cursor = None
    while True:
        found = await cast.services.audit.query(admin, cursor=cursor, limit=25)
        seen += [e.id for e in found.entries]
        if found.next_cursor is None:
            break
        cursor = found.next_cursor
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen))
    every = [e.id for e in (await cast.services.audit.query(admin, limit=500)).entries]
    assert seen == every and len(every) > 60
    # The page offers the next page with the same filter.
    first = (await cast.get("admin", "/admin/audit?action=group.rename")).text
    assert len(rows(first)) == 50
    link = re.search(r'rel="next" href="([^"]+)"', first)
    assert link and "action=group.rename" in link.group(1)
    second = (await cast.get("admin", link.group(1).replace("&amp;", "&"))).text
    assert len(rows(second)) == 10 and 'rel="next"' not in second


async def test_csv_export_defuses_formula_cells(cast: Cast) -> None:
    for name in ('=HYPERLINK("http://evil.example")', "+1+1", "-2", "@SUM(A1)", "Plain"):
        await cast.post("admin", url(GROUP, "/rename"), {"display_name": name})
    answer = await cast.get("admin", "/admin/audit.csv?action=group.rename")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert re.match(
        r'attachment; filename="audit-\d{8}T\d{6}Z\.csv"', answer.headers["content-disposition"]
    )
    table = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["target"] for r in table] == [
        "Plain", "'@SUM(A1)", "'-2", "'+1+1", "'=HYPERLINK(\"http://evil.example\")",
    ]  # fmt: skip
    assert all(not v.startswith(("=", "+", "-", "@")) for r in table for v in r.values())
    # JSON keeps the values as they are.
    data = json.loads((await cast.get("admin", "/admin/audit.json?action=group.rename")).text)
    assert [r["target"] for r in data][1:4] == ["@SUM(A1)", "-2", "+1+1"]
    assert {
        "id",
        "at",
        "actor",
        "org_id",
        "action",
        "mailbox",
        "target",
        "detail",
        "prev_hash",
        "hash",
    } == set(data[0])


async def test_export_covers_the_whole_filter_not_one_page(cast: Cast) -> None:
    for n in range(70):
        await cast.services.groups.rename(cast.system, GROUP, f"Name {n}")
    data = json.loads((await cast.get("admin", "/admin/audit.json?action=group.rename")).text)
    assert len(data) == 70
    assert [r["target"] for r in data][:2] == ["Name 69", "Name 68"]


# --- the chain ------------------------------------------------------------------------------


async def test_banner_says_no_once_the_chain_is_tampered_with(cast: Cast) -> None:
    assert banner((await cast.get("admin", "/admin/audit")).text) == "yes"
    await cast.client("service"), await cast.client("other")
    async with cast.services.deps.db.write() as conn:
        await conn.execute(text("UPDATE audit_log SET detail = 'forged' WHERE id = 3"))
    admin_page = (await cast.get("admin", "/admin/audit")).text
    assert banner(admin_page) == "no" and "entry 3" not in admin_page
    other_page = (await cast.get("other", "/admin/audit")).text
    assert banner(other_page) == "no" and "entry 3" not in other_page
    service_page = (await cast.get("service", "/admin/audit")).text
    assert banner(service_page) == "no" and "(entry 3)" in service_page
    admin = await cast.demo_ctx("admin")
    report = await cast.services.audit.verify(admin)
    assert not report.ok and report.first_bad_id is None and "3" not in report.reason
    assert (await cast.services.audit.verify(cast.system)).first_bad_id == 3
    status = await cast.services.audit.chain_status(admin)
    assert not status.ok and status.report is None
    assert (status.head_id, status.head_hash) == await cast.services.audit.head(cast.system)


async def test_query_refuses_plain_users_and_bad_input(cast: Cast) -> None:
    erin = await cast.demo_ctx("erin")
    with pytest.raises(PermissionDenied):
        await cast.services.audit.query(erin)
    alice = await cast.demo_ctx("alice")  # reads the group, does not manage it
    with pytest.raises(PermissionDenied):
        await cast.services.audit.query(alice, mailbox=GROUP)
    with pytest.raises(NotFound):
        await cast.services.audit.query(erin, mailbox=GROUP)
    with pytest.raises(InvalidInput):
        await cast.services.audit.query(cast.system, cursor="abc")
    with pytest.raises(InvalidInput):
        await cast.services.audit.query(cast.system, actor="x" * 300)
    other = await cast.services.auth.authenticate(OTHER_ADMIN, PASSWORD, channel="test")
    found = await cast.services.audit.query(other, mailbox=GROUP)
    assert found.entries == []


async def test_console_is_not_found_for_plain_users(cast: Cast) -> None:
    for who in ("alice", "erin"):
        for path in ("/admin/audit", "/admin/audit.csv", "/admin/audit.json"):
            answer: httpx.Response = await cast.get(who, path)
            assert answer.status_code == 404, (who, path)
