"""The outbound verbs: DKIM keys, TLS-required domains, the queue."""

import argparse
import asyncio
from datetime import UTC, datetime
from typing import Any

from securemail.cli.handlers import CTX, _print_json, _runtime, _table
from securemail.config import Settings
from securemail.mailauth import dkim_sign
from securemail.store.repos.policy import DkimKey
from securemail.store.repos.queue import QueueItem


def _dkim_json(key: DkimKey) -> dict[str, Any]:
    value = dkim_sign.record_value(key.public_key)
    return {
        "domain": key.domain,
        "selector": key.selector,
        "active": key.active,
        "created_at": key.created_at.isoformat(),
        "record_name": dkim_sign.record_name(key.selector, key.domain),
        "record_value": value,
        "record_strings": dkim_sign.record_strings(value),
    }


async def dkim_generate(settings: Settings, args: argparse.Namespace) -> int:
    """A new RSA-2048 key becomes the domain's signing key; print the DNS record to publish."""
    today = datetime.now(UTC).strftime("%Y%m%d")
    selector = args.selector or f"{settings.relay.dkim_selector}-{today}"
    pair = await asyncio.to_thread(dkim_sign.generate_key)
    async with _runtime(settings) as rt:
        key = await rt.services.policy.install_dkim_key(
            CTX,
            args.domain,
            selector=selector,
            private_key_pem=pair.private_pem,
            public_key_b64=pair.public_b64,
        )
    info = _dkim_json(key)
    if args.json:
        _print_json(info)
        return 0
    quoted = " ".join(f'"{s}"' for s in info["record_strings"])
    print(f"DKIM key for {key.domain} (selector {key.selector}) now signs its outgoing mail.")
    print("Publish this TXT record now:")
    print(f"name:  {info['record_name']}")
    print(f"value: {info['record_value']}")
    print(f"zone:  {info['record_name']}. IN TXT ( {quoted} )")
    return 0


async def dkim_list(settings: Settings, args: argparse.Namespace) -> int:
    async with _runtime(settings) as rt:
        keys = await rt.services.policy.list_dkim_keys(CTX, args.org)
    if args.json:
        _print_json([_dkim_json(k) for k in keys])
        return 0
    rows = [
        (k.domain, k.selector, "yes" if k.active else "", k.created_at.strftime("%Y-%m-%d"))
        for k in keys
    ]
    _table(rows, ("DOMAIN", "SELECTOR", "ACTIVE", "CREATED"))
    return 0


async def policy_tls_add(settings: Settings, args: argparse.Namespace) -> int:
    async with _runtime(settings) as rt:
        domains = await rt.services.policy.add_tls_required(CTX, args.org, args.domain)
    print(f"TLS required for mail from {args.org.strip()} to: {', '.join(domains)}")
    return 0


async def policy_tls_remove(settings: Settings, args: argparse.Namespace) -> int:
    async with _runtime(settings) as rt:
        service = rt.services.policy
        domains = await service.remove_tls_required(CTX, args.org, args.domain)
    print(f"TLS required for mail from {args.org.strip()} to: {', '.join(domains) or 'no domain'}")
    return 0


async def policy_tls_list(settings: Settings, args: argparse.Namespace) -> int:
    async with _runtime(settings) as rt:
        domains = await rt.services.policy.list_tls_required(CTX, args.org)
    if args.json:
        _print_json(domains)
    else:
        for domain in domains:
            print(domain)
    return 0


def _queue_json(item: QueueItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "status": item.status,
        "sender": item.sender,
        "recipient": item.recipient,
        "size": item.size,
        "attempts": item.attempts,
        "created_at": item.created_at.isoformat(),
        "next_attempt_at": item.next_attempt_at.isoformat(),
        "last_attempt_at": item.last_attempt_at.isoformat() if item.last_attempt_at else None,
        "last_status": item.last_status,
        "last_reply": item.last_reply,
        "remote_host": item.remote_host,
        "tls": item.last_tls,
    }


async def queue_list(settings: Settings, args: argparse.Namespace) -> int:
    wanted = [s.strip() for s in args.status.split(",") if s.strip()]
    statuses = None if wanted == ["all"] else wanted
    async with _runtime(settings) as rt:
        items = await rt.services.queue.list_items(CTX, statuses=statuses, limit=args.limit)
    if args.json:
        _print_json([_queue_json(i) for i in items])
        return 0
    rows = [
        (
            str(i.id),
            i.status,
            i.sender,
            i.recipient,
            str(i.attempts),
            i.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S") if i.status == "queued" else "",
            f"{i.last_status} {i.last_reply}"[:60].strip(),
        )
        for i in items
    ]
    _table(rows, ("ID", "STATUS", "SENDER", "RECIPIENT", "TRIES", "NEXT (UTC)", "LAST REPLY"))
    return 0
