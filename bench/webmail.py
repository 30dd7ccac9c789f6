#!/usr/bin/env python3
"""Webmail benchmark: a group mailbox of N messages (100,000 by default); median and p99 server
time of the message-list page, of opening a message and of a full-text search, with 1 and 50
concurrent users. Requests go through the real ASGI app (routing, session, rights, templates)
in-process, so the figures are server time without a network or client in them.

Usage: .venv/bin/python bench/webmail.py [--messages 100000] [--users 1,50] [--requests 200]
       [--think SECONDS]   (users pause between requests; default 0: back to back)
       [--database-url postgresql://postgres@127.0.0.1:5432/bench]   (default: embedded SQLite)
Populating 100,000 messages takes a few minutes; --keep DIR reuses a populated data directory.
"""

import argparse
import asyncio
import os
import platform
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from securemail import app
from securemail.config import load_settings
from securemail.core.context import system_context
from securemail.services.demo import DEMO_DOMAIN, DEMO_GROUP, load_demo
from securemail.services.registry import Services
from securemail.store.migrate import upgrade
from securemail.web.app import create_app

# Letters with their frequency in English text (per mille), so words share trigrams about as
# often as real mail does.
LETTERS = "etaoinshrdlcumwfgypbvkjxqz"
LETTER_WEIGHTS = [127, 91, 82, 75, 70, 67, 63, 61, 60, 43, 40, 28, 28, 24, 24, 22, 20, 20,
                  19, 15, 10, 8, 2, 2, 1, 1]  # fmt: skip


def vocabulary(size: int = 20_000) -> list[str]:
    """Made-up words, most frequent first: mail text has a long tail of rare words."""
    rng = random.Random(11)
    words: dict[str, None] = {}
    while len(words) < size:
        length = rng.randint(3, 10)
        words["".join(rng.choices(LETTERS, LETTER_WEIGHTS, k=length))] = None
    return list(words)


WORDS = vocabulary()
# Zipf-like weights: the word of rank r appears in proportion to 1/r.
WEIGHTS = [1.0 / rank for rank in range(1, len(WORDS) + 1)]
COMMON = WORDS[20:40]  # each in roughly a tenth of the messages
RARE = WORDS[5_000:20_000]  # each in a handful of messages

PASSWORD = "bench-password-1234"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def message(i: int, rng: random.Random) -> bytes:
    words = " ".join(rng.choices(WORDS, WEIGHTS, k=60))
    return (
        f"From: Researcher {i % 97} <r{i % 97}@university.example>\r\n"
        f"To: {DEMO_GROUP}\r\n"
        f"Subject: Enquiry {i}: {' '.join(rng.choices(WORDS, WEIGHTS, k=3))}\r\n"
        f"Date: Thu, 26 Nov 2026 09:{i % 60:02d}:00 +0000\r\n"
        f"Message-ID: <bench-{i}@university.example>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Dear team,\r\n\r\n{words}\r\n\r\nRegards\r\n"
    ).encode()


async def populate(services: Services, count: int) -> float:
    """Deliver `count` messages to the group, 200 at a time (group commit batches them)."""
    ctx = system_context("bench")
    rng = random.Random(7)
    started = time.perf_counter()
    done = 0
    while done < count:
        batch = [message(done + i, rng) for i in range(min(200, count - done))]
        await asyncio.gather(*(services.delivery.deliver(ctx, raw, [DEMO_GROUP]) for raw in batch))
        done += len(batch)
        if done % 10_000 == 0:
            print(f"  populated {done} ({done / (time.perf_counter() - started):.0f} msg/s)")
    return time.perf_counter() - started


async def login(client: httpx.AsyncClient, address: str) -> None:
    page = await client.get("/login")
    token = CSRF.search(page.text)
    assert token is not None
    answer = await client.post(
        "/login", data={"csrf": token.group(1), "address": address, "password": PASSWORD}
    )
    assert answer.status_code == 303, answer.text


async def timed(client: httpx.AsyncClient, url: str, sink: list[float]) -> None:
    started = time.perf_counter()
    answer = await client.get(url)
    sink.append((time.perf_counter() - started) * 1000)
    assert answer.status_code == 200, (url, answer.status_code)


async def one_user(
    client: httpx.AsyncClient,
    count: int,
    rng: random.Random,
    inbox: str,
    mailbox_id: str,
    ids: tuple[int, int],
    results: dict[str, list[float]],
    think: float,
) -> None:
    """One user's session: a list page, a message, a rare-word and a common-word search;
    `count` times. With `think`, the user pauses a random while (exponential, that mean in
    seconds) before each request, as a person reading does; without, requests follow at once."""

    async def pause() -> None:
        if think:
            await asyncio.sleep(rng.expovariate(1 / think))

    for _ in range(count):
        await pause()
        await timed(client, f"{inbox}?page={rng.randint(1, 50)}", results["list page"])
        await pause()
        await timed(client, f"{inbox}/{rng.randint(*ids)}", results["open message"])
        rare, common = rng.choice(RARE), rng.choice(COMMON)
        await pause()
        await timed(client, f"/mail/{mailbox_id}/search?q={rare}", results["search rare"])
        await pause()
        await timed(client, f"/mail/{mailbox_id}/search?q={common}", results["search common"])


def summary(name: str, users: int, times: list[float]) -> str:
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return (
        f"{name:<14} users={users:<3} n={len(times):<5} median={statistics.median(times):7.1f} ms"
        f"  p99={p99:7.1f} ms"
    )


async def run(args: argparse.Namespace) -> None:
    data = Path(args.keep or tempfile.mkdtemp(prefix="sm-webbench-"))
    env = {
        "SECUREMAIL_SERVER_DATA_DIR": str(data),
        "SECUREMAIL_AUTH_ARGON2_TIME_COST": "1",  # logins are not what this measures
        "SECUREMAIL_AUTH_ARGON2_MEMORY_KIB": "8192",
    }
    if args.database_url:
        env["SECUREMAIL_DATABASE_URL"] = args.database_url
    runtime = app.build(load_settings(env=env))
    await upgrade(runtime.db)
    services = runtime.services
    ctx = system_context("bench")
    fresh = (await load_demo(services, ctx)).created
    staff = [f"{n}@{DEMO_DOMAIN}" for n in ("alice", "bob", "carol", "dave")]
    if fresh:
        for address in staff:
            await services.directory.reset_password(ctx, address, PASSWORD)
        print(f"populating {args.messages} messages into {DEMO_GROUP} ...")
        seconds = await populate(services, args.messages)
        print(f"populated in {seconds:.0f} s")
    asgi = create_app(services)
    print(f"machine: {platform.node()} {os.cpu_count()} cpus, python {platform.python_version()}")
    print(f"store: {'PostgreSQL' if args.database_url else 'SQLite'}; data: {data}")
    for users in [int(u) for u in args.users.split(",")]:
        clients = [
            httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://bench")
            for _ in range(users)
        ]
        for n, client in enumerate(clients):
            await login(client, staff[n % len(staff)])
        first = await clients[0].get("/", follow_redirects=True)
        found = re.search(
            r'href="(/mail/\d+/\d+)">\s*<span class="name">[^<]*</span>\s*'
            rf'<span class="addr">{re.escape(DEMO_GROUP)}',
            first.text,
            re.IGNORECASE,
        )
        assert found, "the group mailbox is not in the switcher"
        group_inbox = found.group(1)
        listing = await clients[0].get(group_inbox)
        ids = [int(x) for x in re.findall(r'data-id="(\d+)"', listing.text)]
        assert ids, "the group inbox shows no messages"
        mailbox_id = group_inbox.split("/")[2]
        per_user = max(1, args.requests // users)
        results: dict[str, list[float]] = {
            "list page": [],
            "open message": [],
            "search rare": [],
            "search common": [],
        }
        rng = random.Random(users)
        top = max(ids)

        started = time.perf_counter()
        ids_range = (max(1, top - args.messages + 1), top)
        await asyncio.gather(
            *(
                one_user(c, per_user, rng, group_inbox, mailbox_id, ids_range, results, args.think)
                for c in clients
            )
        )
        wall = time.perf_counter() - started
        for name, times in results.items():
            print(summary(name, users, times))
        total = sum(len(t) for t in results.values())
        pace = f"think {args.think} s" if args.think else "no think time"
        print(f"  {total} requests in {wall:.1f} s ({total / wall:.0f} req/s, {pace})")
        for client in clients:
            await client.aclose()
    await runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--users", default="1,50")
    parser.add_argument("--requests", type=int, default=300, help="per concurrency level")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--keep", default="", help="data directory to create or reuse")
    parser.add_argument(
        "--think", type=float, default=0.0, help="mean seconds a user pauses between requests"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
