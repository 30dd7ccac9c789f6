"""What each `securemail` verb does: build the runtime, call one service, print the result."""

import argparse
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

from securemail import app
from securemail.config import Settings
from securemail.core.addresses import parse_address
from securemail.core.context import system_context
from securemail.core.errors import InvalidInput
from securemail.core.model import Mailbox, Organisation, User
from securemail.core.rights import format_rights, parse_rights
from securemail.services.demo import load_demo
from securemail.store.migrate import current_revision, upgrade

CTX = system_context("cli")
MAX_STDIN_MESSAGE = 64 * 1024 * 1024


@contextlib.asynccontextmanager
async def _runtime(settings: Settings) -> AsyncIterator[app.Runtime]:
    """A runtime on a schema brought up to date (migrations are idempotent)."""
    runtime = app.build(settings)
    try:
        await upgrade(runtime.db)
        yield runtime
    finally:
        await runtime.close()


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _read_password() -> str:
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise InvalidInput("no password on standard input")
    return line


def _org_json(org: Organisation) -> dict[str, Any]:
    return {"id": org.id, "name": org.name, "domains": list(org.domains)}


def _user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "address": user.address,
        "name": user.display_name,
        "role": user.role.value,
        "disabled": user.disabled,
        "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
    }


def _group_json(mailbox: Mailbox) -> dict[str, Any]:
    return {
        "id": mailbox.id,
        "address": mailbox.address,
        "name": mailbox.display_name,
        "disabled": mailbox.disabled,
    }


async def org_create(settings: Settings, args: argparse.Namespace) -> int:
    async with _runtime(settings) as rt:
        org = await rt.services.directory.create_org(CTX, args.name, args.domain)
    _print_json(_org_json(org)) if args.json else print(f"created organisation {org.name}")
    return 0


async def org_list(settings: Settings, args: argparse.Namespace) -> int:
    async with _runtime(settings) as rt:
        orgs = await rt.services.directory.list_orgs(CTX)
    if args.json:
        _print_json([_org_json(o) for o in orgs])
    else:
        _table([(o.name, ",".join(o.domains)) for o in orgs], ("NAME", "DOMAINS"))
    return 0


async def domain_add(settings: Settings, args: argparse.Namespace) -> int:
    async with _runtime(settings) as rt:
        org = await rt.services.directory.add_domain(CTX, args.org, args.domain)
    print(f"organisation {org.name} now has domains {', '.join(org.domains)}")
    return 0


async def user_create(settings: Settings, args: argparse.Namespace) -> int:
    password = _read_password() if args.password_stdin else None
    async with _runtime(settings) as rt:
        user, generated = await rt.services.directory.create_user(
            CTX, args.address, display_name=args.name, admin=args.admin, password=password
        )
    if args.json:
        _print_json({**_user_json(user), "one_time_password": generated})
    else:
        print(f"created {user.role.value} {user.address}")
        if generated:
            print(f"one-time password (change at first login): {generated}")
    return 0


async def user_list(settings: Settings, args: argparse.Namespace) -> int:
    async with _runtime(settings) as rt:
        users = await rt.services.directory.list_users(CTX, args.org)
    if args.json:
        _print_json([_user_json(u) for u in users])
    else:
        rows = [
            (u.address, u.display_name, u.role.value, "yes" if u.disabled else "") for u in users
        ]
        _table(rows, ("ADDRESS", "NAME", "ROLE", "DISABLED"))
    return 0


async def _set_disabled(settings: Settings, address: str, disabled: bool) -> int:
    async with _runtime(settings) as rt:
        user = await rt.services.directory.set_user_disabled(CTX, address, disabled)
    print(f"{user.address} {'disabled' if disabled else 'enabled'}")
    return 0


async def user_disable(settings: Settings, args: argparse.Namespace) -> int:
    return await _set_disabled(settings, args.address, True)


async def user_enable(settings: Settings, args: argparse.Namespace) -> int:
    return await _set_disabled(settings, args.address, False)


async def user_app_password(settings: Settings, args: argparse.Namespace) -> int:
    async with _runtime(settings) as rt:
        secret = await rt.services.credentials.create_app_password(
            CTX, args.address, args.label, args.protocols
        )
    print(f"app password for {args.address.strip().lower()} ({args.protocols}), shown once:")
    print(secret)
    return 0


async def user_reset_password(settings: Settings, args: argparse.Namespace) -> int:
    password = _read_password() if args.password_stdin else None
    async with _runtime(settings) as rt:
        generated = await rt.services.directory.reset_password(CTX, args.address, password)
    print(f"password of {args.address.strip().lower()} reset")
    if generated:
        print(f"one-time password (change at first login): {generated}")
    return 0


async def group_create(settings: Settings, args: argparse.Namespace) -> int:
    async with _runtime(settings) as rt:
        group = await rt.services.directory.create_group(CTX, args.address, args.name)
    _print_json(_group_json(group)) if args.json else print(
        f"created group mailbox {group.address}"
    )
    return 0


async def group_list(settings: Settings, args: argparse.Namespace) -> int:
    async with _runtime(settings) as rt:
        groups = await rt.services.directory.list_groups(CTX, args.org)
    if args.json:
        _print_json([_group_json(g) for g in groups])
    else:
        _table([(g.address, g.display_name) for g in groups], ("ADDRESS", "NAME"))
    return 0


async def grant(settings: Settings, args: argparse.Namespace) -> int:
    rights = parse_rights(args.rights)
    async with _runtime(settings) as rt:
        held = await rt.services.sharing.grant(CTX, args.group, args.user, rights)
    print(f"{args.user.strip().lower()} now holds {format_rights(held)} on {args.group.strip()}")
    return 0


async def revoke(settings: Settings, args: argparse.Namespace) -> int:
    rights = parse_rights(args.rights) if args.rights is not None else None
    async with _runtime(settings) as rt:
        left = await rt.services.sharing.revoke(CTX, args.group, args.user, rights)
    held = format_rights(left) or "nothing"
    print(f"{args.user.strip().lower()} now holds {held} on {args.group.strip()}")
    return 0


async def grants(settings: Settings, args: argparse.Namespace) -> int:
    async with _runtime(settings) as rt:
        found = await rt.services.sharing.list_grants(CTX, args.group)
    if args.json:
        _print_json(
            [{"user": g.user_address, "rights": format_rights(g.rights).split(",")} for g in found]
        )
    else:
        _table([(g.user_address, format_rights(g.rights)) for g in found], ("USER", "RIGHTS"))
    return 0


async def migrate(settings: Settings, args: argparse.Namespace) -> int:
    runtime = app.build(settings)
    try:
        await upgrade(runtime.db)
        print(f"database at revision {await current_revision(runtime.db)}")
    finally:
        await runtime.close()
    return 0


async def serve(settings: Settings, args: argparse.Namespace) -> int:
    # Imported here: the listeners and the web stack are heavy, and only `serve` needs them.
    from securemail.server import serve as run_server

    await run_server(settings)
    return 0


async def demo(settings: Settings, args: argparse.Namespace) -> int:
    """Load the demo organisation; its passwords are kept in <data_dir>/demo-passwords.txt."""
    path = settings.data_path / "demo-passwords.txt"
    async with _runtime(settings) as rt:
        result = await load_demo(rt.services, CTX)
    if result.created:
        lines = [f"{address}  {password}" for address, password in result.passwords.items()]
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        print("demo organisation 'Police Research Institute' created")
    else:
        print("demo organisation already present")
    if path.exists():
        print(f"demo passwords (also in {path}):")
        print(path.read_text(encoding="utf-8"), end="")
    return 0


async def audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    async with _runtime(settings) as rt:
        report = await rt.services.audit.verify(CTX)
        head_id, head_hash = await rt.services.audit.head(CTX)
    if report.ok:
        print(f"audit chain intact: {report.checked} entries, head {head_id} {head_hash}")
        return 0
    print(
        f"audit chain BROKEN at entry {report.first_bad_id}: {report.reason} "
        f"({report.checked} entries verified before it)",
        file=sys.stderr,
    )
    return 1


async def audit_list(settings: Settings, args: argparse.Namespace) -> int:
    async with _runtime(settings) as rt:
        entries = await rt.services.audit.list_entries(CTX, mailbox=args.mailbox, limit=args.limit)
    if args.json:
        _print_json([{k: getattr(e, k) for k in e.__slots__} for e in entries])
        return 0
    rows = [
        (str(e.id), e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor, e.action, e.mailbox, e.target)
        for e in entries
    ]
    _table(rows, ("ID", "AT (UTC)", "ACTOR", "ACTION", "MAILBOX", "TARGET"))
    return 0


async def deliver(settings: Settings, args: argparse.Namespace) -> int:
    """Deliver to every recipient or to none: a retry after an error never duplicates mail."""
    raw = sys.stdin.buffer.read(MAX_STDIN_MESSAGE + 1)
    if not raw.strip():
        raise InvalidInput("no message on standard input")
    async with _runtime(settings) as rt:
        for address in args.recipients:
            key = parse_address(address).key  # a malformed address is refused as such
            if await rt.services.delivery.recipient_status(CTX, key) != "local":
                raise InvalidInput(f"no mailbox {key}; nothing delivered")
        result = await rt.services.delivery.deliver(CTX, raw, args.recipients)
    for address in result.delivered:
        print(f"delivered to {address}")
    return 0
