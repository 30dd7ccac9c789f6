"""Crash soak: SIGKILL `securemail serve` under mixed load, restart, check nothing acked is lost."""

import argparse
import asyncio
import random
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiosmtplib
import httpx
from common import (
    DOMAIN,
    GROUP,
    HOST,
    Imap,
    Serve,
    cli,
    dangling,
    load_demo,
    machine,
    quoted,
    server_code,
    server_env,
    utc_now,
    web_login,
)

ALICE = f"alice@{DOMAIN}"
SENDER = "soak@sender.example"
MAILBOX_OF = {ALICE: "alice", GROUP: "group"}
RECIPIENTS = ([ALICE], [GROUP], [ALICE, GROUP])
FOLDER = "Soak"
MESSAGE_ID = re.compile(rb"Message-ID: (<[^>\r\n]+>)", re.I)
SELECTABLE = re.compile(rb'^\* LIST \(([^)]*)\) "/" "(.*)"\r\n$')
FILLER = ("soak line " + "x" * 64 + "\r\n") * 24


@dataclass
class Round:
    """What one round's clients did before the kill, and what they saw go wrong."""

    number: int
    acked: dict[str, set[str]] = field(default_factory=dict)  # Message-ID -> mailboxes
    moves: int = 0
    flags: int = 0
    killed: bool = False
    errors: list[str] = field(default_factory=list)  # before the kill: real failures

    def failed(self, kind: str, exc: BaseException) -> None:
        if not self.killed:
            self.errors.append(f"{kind}: {exc!r}")


# ---- the load ------------------------------------------------------------------------------


def message(msgid: str, rcpts: list[str]) -> str:
    return (
        f"From: Soak <{SENDER}>\r\nTo: {', '.join(rcpts)}\r\nSubject: crash soak {msgid}\r\n"
        f"Message-ID: {msgid}\r\n\r\n{FILLER}"
    )


async def smtp_loop(port: int, session: int, rnd: Round, rng: random.Random) -> None:
    """Deliver over the MX port until the server dies; note every message that got its 250."""
    smtp = aiosmtplib.SMTP(hostname=HOST, port=port, timeout=30, start_tls=False)
    try:
        await smtp.connect()
        for n in range(1, 1_000_000):
            msgid = f"<soak-{rnd.number}-{session}-{n}@soak.test>"
            rcpts = list(rng.choice(RECIPIENTS))
            refused, _reply = await smtp.sendmail(SENDER, rcpts, message(msgid, rcpts))
            rnd.acked[msgid] = {MAILBOX_OF[r] for r in rcpts if r not in refused}
    except Exception as exc:
        rnd.failed(f"smtp session {session}", exc)
    finally:
        smtp.close()


@dataclass
class Mover:
    """A webmail session that moves messages between a mailbox's INBOX and its Soak folder."""

    client: httpx.AsyncClient
    csrf: str
    inbox: int
    soak: int


async def api(mover: Mover, method: str, url: str, body: object = None) -> httpx.Response:
    headers = {"X-CSRF-Token": mover.csrf} if method != "GET" else {}
    answer = await mover.client.request(method, url, json=body, headers=headers)
    if answer.status_code >= 400:
        raise RuntimeError(f"{method} {url}: {answer.status_code} {answer.text[:200]}")
    return answer


async def folder_ids(client: httpx.AsyncClient, csrf: str, mailbox: int) -> tuple[int, int]:
    """The mailbox's INBOX and Soak folder, creating Soak the first time."""
    listing = (await client.get(f"/api/v1/mailboxes/{mailbox}/folders")).json()
    by_name = {f["name"]: int(f["id"]) for f in listing}
    if FOLDER not in by_name:
        made = await client.post(
            f"/api/v1/mailboxes/{mailbox}/folders",
            json={"name": FOLDER},
            headers={"X-CSRF-Token": csrf},
        )
        by_name[FOLDER] = int(made.json()["id"])
    return by_name["INBOX"], by_name[FOLDER]


async def mover_for(port: int, address: str, password: str, kind: str) -> Mover:
    client = httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=30)
    csrf = await web_login(client, address, password)
    mailboxes = (await client.get("/api/v1/mailboxes")).json()
    mailbox = next(int(m["id"]) for m in mailboxes if m["kind"] == kind)
    inbox, soak = await folder_ids(client, csrf, mailbox)
    return Mover(client, csrf, inbox, soak)


async def move_loop(mover: Mover, rnd: Round, rng: random.Random) -> None:
    """Move a few messages at a time, mostly INBOX -> Soak, sometimes back."""
    try:
        while True:
            src, dst = (mover.inbox, mover.soak)
            if rng.random() < 0.3:
                src, dst = dst, src
            page = (await api(mover, "GET", f"/api/v1/folders/{src}/messages?limit=50")).json()
            ids = [int(m["id"]) for m in page["items"]]
            if ids:
                chosen = rng.sample(ids, min(len(ids), rng.randint(1, 3)))
                await api(mover, "POST", "/api/v1/messages/move", {"ids": chosen, "folder_id": dst})
                rnd.moves += len(chosen)
            await asyncio.sleep(0.02)
    except Exception as exc:
        rnd.failed("webmail move", exc)


async def imap_for(port: int, user: str, password: str, folder: str) -> Imap:
    imap = await Imap.connect(port)
    await imap.login(user, password)
    await imap.command(f"SELECT {quoted(folder)}")
    return imap


async def flag_loop(imap: Imap, rnd: Round, rng: random.Random) -> None:
    """UID STORE +FLAGS/-FLAGS on random messages of the selected folder."""
    uids: list[bytes] = []
    try:
        for n in range(1_000_000):
            if n % 20 == 0 or not uids:
                found = await imap.command("UID SEARCH ALL")
                uids = [
                    u for line in found if line.startswith(b"* SEARCH") for u in line.split()[2:]
                ]
            if uids:
                sign, flag = rng.choice("+-"), rng.choice([r"\Flagged", r"\Seen", "$Soak"])
                await imap.command(f"UID STORE {rng.choice(uids).decode()} {sign}FLAGS ({flag})")
                rnd.flags += 1
            await asyncio.sleep(0.01)
    except Exception as exc:
        rnd.failed("imap store", exc)


# ---- one round -----------------------------------------------------------------------------


async def load_and_kill(
    serve: Serve, ports: dict[str, int], pw: dict[str, str], rnd: Round, args: argparse.Namespace
) -> float:
    """Open the clients, run them together, SIGKILL the server after a random while."""
    rng = random.Random(args.seed * 1000 + rnd.number)
    bob, dave = f"bob@{DOMAIN}", f"dave@{DOMAIN}"
    movers = [
        await mover_for(ports["http"], ALICE, pw[ALICE], "personal"),
        await mover_for(ports["http"], bob, pw[bob], "group"),
    ]
    imaps = [
        await imap_for(ports["imap"], ALICE, pw[ALICE], "INBOX"),
        await imap_for(ports["imap"], dave, pw[dave], f"Shared/{GROUP}/INBOX"),
    ]
    tasks = [asyncio.create_task(smtp_loop(ports["smtp"], s, rnd, rng)) for s in range(args.smtp)]
    tasks += [asyncio.create_task(move_loop(m, rnd, rng)) for m in movers]
    tasks += [asyncio.create_task(flag_loop(i, rnd, rng)) for i in imaps]
    delay = rng.uniform(0.5, 3.0)
    await asyncio.sleep(delay)
    rnd.killed = True
    serve.kill()
    await asyncio.wait(tasks, timeout=60)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for mover in movers:
        await mover.client.aclose()
    for imap in imaps:
        await imap.close()
    return delay


async def seen_by_imap(port: int, password: str) -> dict[str, Counter[str]]:
    """Every Message-ID alice can see, per mailbox, counted over all folders."""
    imap = await Imap.connect(port)
    found: dict[str, Counter[str]] = {"alice": Counter(), "group": Counter()}
    try:
        await imap.login(ALICE, password)
        for line in await imap.command('LIST "" "*"'):
            match = SELECTABLE.match(line)
            if match is None or b"\\Noselect" in match.group(1):
                continue
            name = match.group(2).decode()
            answer = await imap.command(f"EXAMINE {quoted(name)}")
            if not any(re.match(rb"\* [1-9]\d* EXISTS", a) for a in answer):
                continue
            fetched = await imap.command(
                "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])", timeout=300
            )
            box = found["group" if name.startswith("Shared/") else "alice"]
            box.update(m.decode() for f in fetched for m in MESSAGE_ID.findall(f))
    finally:
        await imap.close()
    return found


def compare(acked: dict[str, set[str]], seen: dict[str, Counter[str]]) -> tuple[int, int]:
    """(acknowledged deliveries missing, soak messages stored more than once in a mailbox)."""
    lost = sum(1 for msgid, boxes in acked.items() for box in boxes if seen[box][msgid] == 0)
    twice = sum(
        1 for box in seen.values() for msgid, n in box.items() if "@soak.test" in msgid and n > 1
    )
    return lost, twice


def audit_verify(env: dict[str, str]) -> tuple[bool, str]:
    """`securemail audit verify`: its exit status and, in short, what it said."""
    done = cli(env, "audit", "verify")
    said = (done.stdout + done.stderr).strip()
    entries = re.search(r"(\d+) entries", said)
    if done.returncode == 0 and entries:
        return True, f"verifies ({entries.group(1)} entries)"
    return False, f"FAILED (exit {done.returncode}): {said[-300:]}"


# ---- the soak ------------------------------------------------------------------------------


@dataclass
class Totals:
    acked: dict[str, set[str]] = field(default_factory=dict)
    moves: int = 0
    flags: int = 0
    lost: int = 0
    duplicates: int = 0
    dangling: int = 0
    audit_failures: int = 0
    errors: list[str] = field(default_factory=list)
    bad_exits: int = 0


async def one_round(
    number: int, serve: Serve, pw: dict[str, str], totals: Totals, args: argparse.Namespace
) -> str:
    ports = serve.start()
    rnd = Round(number)
    delay = await load_and_kill(serve, ports, pw, rnd, args)
    totals.acked.update(rnd.acked)
    totals.moves, totals.flags = totals.moves + rnd.moves, totals.flags + rnd.flags
    totals.errors += [f"round {number}: {e}" for e in rnd.errors]
    started = time.monotonic()
    ports = serve.start()
    restart = time.monotonic() - started
    lost, twice = compare(totals.acked, await seen_by_imap(ports["imap"], pw[ALICE]))
    exit_code = serve.terminate()
    totals.bad_exits += exit_code != 0
    problems = await dangling(serve.env)
    audit_ok, audit_line = audit_verify(serve.env)
    totals.lost, totals.duplicates = max(totals.lost, lost), max(totals.duplicates, twice)
    totals.dangling += sum(problems.values())
    totals.audit_failures += not audit_ok
    bad = ", ".join(f"{k}={v}" for k, v in problems.items() if v) or "0"
    return (
        f"round {number:2d}: killed after {delay:.2f} s; acked {len(rnd.acked)} "
        f"(total {len(totals.acked)}), moved {rnd.moves}, flag changes {rnd.flags}, "
        f"errors before kill {len(rnd.errors)}; restart {restart:.1f} s, exit {exit_code}; "
        f"lost {lost}, duplicates {twice}, dangling {bad}; audit {audit_line}"
    )


def summary(totals: Totals, rounds: int, wall: float) -> bool:
    ok = not (totals.lost or totals.duplicates or totals.dangling or totals.audit_failures)
    ok = ok and not totals.errors and not totals.bad_exits
    print(f"\n# crash soak summary, {utc_now()}, {wall / 60:.1f} min")
    print(f"rounds                      {rounds}")
    print(f"messages acknowledged       {len(totals.acked)}")
    print(f"acknowledged but lost       {totals.lost}")
    print(f"stored twice                {totals.duplicates}")
    print(f"dangling rows (all rounds)  {totals.dangling}")
    print(f"audit verify failures       {totals.audit_failures} of {rounds}")
    print(f"webmail moves done          {totals.moves}")
    print(f"IMAP flag changes done      {totals.flags}")
    print(f"errors before a kill        {len(totals.errors)}")
    print(f"unclean SIGTERM exits       {totals.bad_exits}")
    for error in totals.errors[:20]:
        print(f"  {error}")
    print("RESULT", "PASS" if ok else "FAIL")
    return ok


async def run(args: argparse.Namespace) -> bool:
    data_dir = Path(args.keep or tempfile.mkdtemp(prefix="securemail-crash-soak-"))
    env = server_env(data_dir, args.database_url, 200)
    print(f"# crash soak, {utc_now()}: {machine()}")
    print(
        f"server code: {server_code(env)}; data: {data_dir}; store: {args.database_url or 'SQLite'}"
    )
    pw = load_demo(env, data_dir)
    serve, totals, started = Serve(env, data_dir), Totals(), time.monotonic()
    for number in range(1, args.rounds + 1):
        print(await one_round(number, serve, pw, totals, args), flush=True)
    return summary(totals, args.rounds, time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--smtp", type=int, default=4, help="SMTP sessions per round")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default="", help="an empty PostgreSQL database")
    parser.add_argument("--keep", default="", help="data directory (default: a new temp dir)")
    args = parser.parse_args()
    if not 1 <= args.rounds <= 500 or not 1 <= args.smtp <= 50:
        raise SystemExit("bounded: 1 <= --rounds <= 500, 1 <= --smtp <= 50")
    sys.exit(0 if asyncio.run(run(args)) else 1)


if __name__ == "__main__":
    main()
