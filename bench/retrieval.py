#!/usr/bin/env python3
"""Retrieval benchmark: a 10,000-message mailbox fetched whole over POP3 (RETR 1..N) and over
IMAP (one `FETCH 1:* BODY.PEEK[]`), every message flagged and unflagged (`STORE 1:*
+FLAGS.SILENT` then `-FLAGS.SILENT`), IMAP `SEARCH TEXT` latency, and the memory of 1,000 idle
logged-in IMAP connections (LOGIN, SELECT INBOX, IDLE), against our server and, with --peer,
against the reference Dovecot of ../shared/peerbench (start it there with `setup.sh`).

The same deterministic ~5.7 KB messages (a unique token in each, the needle word in every
1000th) and the same Python clients (poplib, imaplib, raw sockets) are used for both servers.
Our server is started here on 127.0.0.1 with a temporary data directory and provisioned with the
`securemail` CLI; the mailbox is filled in-process through the delivery service (the SMTP path
has its own benchmark). Dovecot is filled through its Postfix on 127.0.0.1:2525.

Memory per idle connection: the PSS (/proc/<pid>/smaps_rollup) of the server's processes with
the connections open, minus before, divided by their number. Ours is one process; for Dovecot
the PSS of every process under its master is summed.

Usage: .venv/bin/python bench/retrieval.py [--messages 10000] [--reps 5] [--search-reps 7]
       [--idle 1000] [--peer] [--skip pop3,imap,store,search,idle]
Loopback only; every loop is bounded; every socket has a timeout.
"""

import argparse
import asyncio
import contextlib
import imaplib
import json
import os
import platform
import poplib
import random
import re
import resource
import shutil
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path

from securemail import app
from securemail.config import load_settings
from securemail.core.context import system_context

SECUREMAIL = str(Path(sys.executable).with_name("securemail"))
DOMAIN = "example.test"
BIG = f"big@{DOMAIN}"
IDLE_USERS = [f"idle{i:02d}@{DOMAIN}" for i in range(1, 11)]
NEEDLE, NO_HIT = "zebracorn", "qwxzvnomatch"
HOST = "127.0.0.1"
TIMEOUT = 600


@dataclass
class Target:
    """One server under test: where it listens, who logs in, which processes are it."""

    name: str
    imap_port: int
    pop3_port: int
    passwords: dict[str, str]
    pids: Callable[[], list[int]]
    results: dict[str, str] = field(default_factory=dict)


# ---- the mailbox ---------------------------------------------------------------------------


def make_message(i: int, size: int = 5000) -> bytes:
    """Message number i: seeded words, so every run and every server get the same bytes."""
    rng = random.Random(i)
    letters = "etaoinshrdlcumwfgypbvk"
    lines: list[str] = []
    while sum(len(x) + 2 for x in lines) < size:
        words = ("".join(rng.choices(letters, k=rng.randint(2, 10))) for _ in range(12))
        lines.append(" ".join(words))
    lines.insert(len(lines) // 2, f"token bmtok{i:05d}")
    if i % 1000 == 0:
        lines.insert(len(lines) // 3, f"the {NEEDLE} appears here")
    header = (
        f"From: Load Generator <loadgen@sender.test>\r\nTo: <{BIG}>\r\n"
        f"Subject: retrieval bench message {i}\r\nDate: {formatdate(1700000000 + i * 60)}\r\n"
        f"Message-ID: <bm.{i}@sender.test>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    )
    return (header + "\r\n".join(lines) + "\r\n").encode()


async def fill_ours(env: dict[str, str], n: int) -> None:
    """Deliver n messages in-process, 64 at a time so they share group commits."""
    runtime = app.build(load_settings(env=env))
    ctx = system_context("bench")
    try:
        for start in range(1, n + 1, 64):
            batch = range(start, min(start + 64, n + 1))
            await asyncio.gather(
                *(runtime.services.delivery.deliver(ctx, make_message(i), [BIG]) for i in batch)
            )
    finally:
        await runtime.close()


def fill_peer(target: Target, n: int, smtp_port: int) -> None:
    """Empty Dovecot's mailbox and send the same n messages through its Postfix."""
    imap_reset(target, BIG)
    with smtplib.SMTP(HOST, smtp_port, local_hostname="loadgen.test", timeout=120) as s:
        for i in range(1, n + 1):
            s.sendmail("loadgen@sender.test", [BIG], make_message(i))
    deadline = time.monotonic() + 900
    while imap_count(target, BIG) < n:
        if time.monotonic() > deadline:
            raise SystemExit("Dovecot did not show every message within 15 minutes")
        time.sleep(0.5)


# ---- clients -------------------------------------------------------------------------------


def imap_login(t: Target, user: str) -> imaplib.IMAP4:
    c = imaplib.IMAP4(HOST, t.imap_port, timeout=TIMEOUT)
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # STACK.md gotcha 7
    c.login(user, t.passwords[user])
    return c


def imap_count(t: Target, user: str) -> int:
    c = imap_login(t, user)
    try:
        _typ, data = c.status("INBOX", "(MESSAGES)")
        return int(re.findall(rb"MESSAGES (\d+)", data[0])[0])  # type: ignore[arg-type]
    finally:
        c.logout()


def imap_reset(t: Target, user: str) -> None:
    c = imap_login(t, user)
    try:
        _typ, data = c.select("INBOX")
        if int(data[0] or 0):
            c.store("1:*", "+FLAGS.SILENT", r"(\Deleted)")
            c.expunge()
    finally:
        c.logout()


def pop3_all(t: Target) -> tuple[int, int]:
    """USER, PASS, STAT, RETR 1..N, QUIT: N round trips on one connection."""
    p = poplib.POP3(HOST, t.pop3_port, timeout=TIMEOUT)
    p.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    p.user(BIG)
    p.pass_(t.passwords[BIG])
    n, _size = p.stat()
    total = 0
    for i in range(1, n + 1):
        _resp, _lines, octets = p.retr(i)
        total += octets
    p.quit()
    return n, total


def imap_fetch_all(t: Target) -> tuple[int, int]:
    """EXAMINE INBOX, then one FETCH 1:* BODY.PEEK[] (timed with the login and EXAMINE)."""
    c = imap_login(t, BIG)
    _typ, data = c.select("INBOX", readonly=True)
    n = int(data[0] or 0)
    _typ, fetched = c.fetch("1:*", "(BODY.PEEK[])")
    bodies = [x[1] for x in fetched if isinstance(x, tuple)]
    c.logout()
    if len(bodies) != n:
        raise SystemExit(f"{t.name}: FETCH returned {len(bodies)} of {n} messages")
    return n, sum(len(b) for b in bodies)


def imap_store_all(t: Target) -> tuple[int, int]:
    """SELECT INBOX, then STORE 1:* +FLAGS.SILENT (\\Flagged) and -FLAGS.SILENT (\\Flagged):
    every message's flags changed twice (timed with the login and SELECT); (changes, 0)."""
    c = imap_login(t, BIG)
    _typ, data = c.select("INBOX")
    n = int(data[0] or 0)
    for sign in "+-":
        typ, _data = c.store("1:*", f"{sign}FLAGS.SILENT", "(\\Flagged)")
        if typ != "OK":
            raise SystemExit(f"{t.name}: STORE answered {typ}")
    c.logout()
    return 2 * n, 0


def imap_search(t: Target, key: str, value: str) -> tuple[float, int]:
    """Seconds for one SEARCH (login and EXAMINE not timed), and the number of hits."""
    c = imap_login(t, BIG)
    c.select("INBOX", readonly=True)
    t0 = time.monotonic()
    _typ, data = c.search(None, key, value)
    elapsed = time.monotonic() - t0
    c.logout()
    return elapsed, len((data[0] or b"").split())


# ---- idle connections and memory -----------------------------------------------------------


def pss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        total += int(re.findall(r"^Pss:\s+(\d+)", text, re.M)[0])
    return total


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue
            children.setdefault(int(stat[stat.rindex(")") + 2 :].split()[1]), []).append(int(entry))
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack.extend(children.get(pid, []))
    return out


def _expect(sock: socket.socket, buf: bytearray, prefix: bytes) -> None:
    while True:
        while b"\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            buf += chunk
        line, _, rest = bytes(buf).partition(b"\r\n")
        buf[:] = rest
        if line.startswith(prefix):
            if not line.startswith((prefix + b" OK", b"+")):
                raise RuntimeError(line.decode(errors="replace"))
            return


def open_idle(t: Target, user: str) -> socket.socket:
    sock = socket.create_connection((HOST, t.imap_port), timeout=60)
    buf = bytearray()
    _expect(sock, buf, b"*")
    sock.sendall(f'a LOGIN "{user}" "{t.passwords[user]}"\r\n'.encode())
    _expect(sock, buf, b"a")
    sock.sendall(b"b SELECT INBOX\r\n")
    _expect(sock, buf, b"b")
    sock.sendall(b"c IDLE\r\n")
    _expect(sock, buf, b"+")
    return sock


def idle_memory(t: Target, count: int, settle: float) -> tuple[float, float, float]:
    """(KiB of PSS per connection, MiB PSS before, logins/s while opening)."""
    time.sleep(settle)
    before = pss_kib(t.pids())
    conns: list[socket.socket] = []
    t0 = time.monotonic()
    try:
        for i in range(count):
            conns.append(open_idle(t, IDLE_USERS[i % len(IDLE_USERS)]))
        rate = count / (time.monotonic() - t0)
        time.sleep(settle)
        during = pss_kib(t.pids())
    finally:
        for sock in conns:
            with contextlib.suppress(OSError):
                sock.sendall(b"DONE\r\nz LOGOUT\r\n")
        time.sleep(1.0)
        for sock in conns:
            sock.close()
    return (during - before) / count, before / 1024, rate


# ---- running it ----------------------------------------------------------------------------


def fmt(values: list[float], digits: int = 0) -> str:
    return (
        f"{statistics.median(values):,.{digits}f} "
        f"({min(values):,.{digits}f}-{max(values):,.{digits}f})"
    )


def measure(t: Target, a: argparse.Namespace) -> None:
    skip = set(a.skip.split(","))
    if "idle" not in skip:  # first, on a server that has not yet held 57 MB of messages
        idle_memory(t, 20, 0.5)  # warm-up: code paths and pools, not counted
        runs3 = [idle_memory(t, a.idle, a.settle) for _ in range(a.idle_reps)]
        t.results[f"PSS KiB per idle connection ({a.idle})"] = fmt([r[0] for r in runs3])
        t.results["PSS MiB before"] = fmt([r[1] for r in runs3])
        t.results["logins/s while opening"] = fmt([r[2] for r in runs3])
        print(f"{t.name}: idle (KiB/conn, MiB before, logins/s): {runs3}")
    for name, fn in (("pop3", pop3_all), ("imap", imap_fetch_all), ("store", imap_store_all)):
        if name in skip:
            continue
        runs = []
        for _ in range(a.reps):
            t0 = time.monotonic()
            n, size = fn(t)
            runs.append((n, size, time.monotonic() - t0))
        t.results[f"{name} msg/s"] = fmt([n / s for n, _b, s in runs])
        if size:
            t.results[f"{name} MB/s"] = fmt([b / s / 1e6 for _n, b, s in runs], 1)
        t.results[f"{name} s"] = fmt([s for _n, _b, s in runs], 2)
        print(f"{t.name}: {name} {n} messages, {size / 1e6:.1f} MB: {t.results[f'{name} s']} s")
    if "search" not in skip:
        for key, value in (("TEXT", NEEDLE), ("TEXT", NO_HIT), ("BODY", "bmtok05555")):
            runs2 = [imap_search(t, key, value) for _ in range(a.search_reps)]
            label = f"SEARCH {key} {value} ({runs2[0][1]} hits) ms"
            t.results[label] = fmt([s * 1000 for s, _h in runs2], 1)
            print(f"{t.name}: {label}: {t.results[label]}")


def cli(env: dict[str, str], *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [SECUREMAIL, *args], env=env, input=stdin, text=True, check=True, capture_output=True
    )
    return done.stdout


def start_ours(env: dict[str, str], data_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [SECUREMAIL, "serve"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    for line in proc.stderr:
        if "securemail ready" in line:
            break
    else:
        raise SystemExit("securemail serve did not start")
    subprocess.Popen(["cat"], stdin=proc.stderr, stdout=subprocess.DEVNULL)  # keep draining
    return proc


def run_ours(a: argparse.Namespace) -> Target:
    data_dir = Path(tempfile.mkdtemp(prefix="securemail-retrieval-"))
    env = {**os.environ, "SECUREMAIL_SERVER_DATA_DIR": str(data_dir)}
    for name in ("SMTP", "SMTP_SUBMISSION", "SMTP_SUBMISSIONS", "HTTP", "POP3", "POP3_TLS"):
        env[f"SECUREMAIL_{name}_PORT"] = "0"
    env |= {"SECUREMAIL_IMAP_PORT": "0", "SECUREMAIL_IMAP_TLS_PORT": "0"}
    env |= {"SECUREMAIL_IMAP_ALLOW_PLAIN_AUTH": "true", "SECUREMAIL_POP3_ALLOW_PLAIN_AUTH": "true"}
    env["SECUREMAIL_IMAP_MAX_CONNECTIONS_PER_IP"] = str(a.idle + 100)
    env["SECUREMAIL_IMAP_MAX_CONNECTIONS_PER_USER"] = str(a.idle + 100)  # one bench user
    cli(env, "org", "create", "Bench", "--domain", DOMAIN)
    passwords = {}
    for user in [BIG, *IDLE_USERS]:  # app passwords: what mail clients are meant to use
        cli(env, "user", "create", user, "--password-stdin", stdin="benchpass-long\n")
        out = cli(env, "user", "app-password", user, "--protocols", "imap,pop3")
        passwords[user] = out.strip().splitlines()[-1].strip()
    t0 = time.monotonic()
    asyncio.run(fill_ours(env, a.messages))
    print(f"ours: {a.messages} messages delivered in-process in {time.monotonic() - t0:.1f} s")
    proc = start_ours(env, data_dir)
    try:
        ports = json.loads((data_dir / "run" / "ports.json").read_text())
        t = Target("securemail", ports["imap"], ports["pop3"], passwords, lambda: [proc.pid])
        measure(t, a)
        return t
    finally:
        proc.terminate()
        proc.wait(60)
        shutil.rmtree(data_dir, ignore_errors=True)


def run_peer(a: argparse.Namespace) -> Target:
    master = int(Path("/run/dovecot/master.pid").read_text())
    passwords = dict.fromkeys([BIG, *IDLE_USERS], "benchpass")
    t = Target("Dovecot", 1143, 1110, passwords, lambda: descendants(master))
    if imap_count(t, BIG) != a.messages or a.refill:
        t0 = time.monotonic()
        fill_peer(t, a.messages, 2525)
        print(f"Dovecot: {a.messages} messages sent and visible in {time.monotonic() - t0:.1f} s")
    first = imap_login(t, BIG)
    first.select("INBOX")  # the first SELECT syncs Maildir new/ -> cur/: not part of the runs
    first.logout()
    measure(t, a)
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--search-reps", type=int, default=7)
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--idle-reps", type=int, default=3)
    ap.add_argument("--settle", type=float, default=3.0)
    ap.add_argument("--peer", action="store_true", help="also measure ../shared/peerbench")
    ap.add_argument("--refill", action="store_true", help="refill Dovecot's mailbox")
    ap.add_argument("--skip", default="", help="comma list of pop3,imap,store,search,idle")
    a = ap.parse_args()
    if a.messages > 100_000 or a.idle > 5000 or max(a.reps, a.search_reps, a.idle_reps) > 20:
        raise SystemExit("bounded: --messages <= 100000, --idle <= 5000, reps <= 20")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 2 * a.idle + 256)), hard))
    targets = [run_peer(a)] if a.peer else []
    targets.append(run_ours(a))
    print(
        f"\n# retrieval, {platform.node()}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {a.messages} messages, "
        f"median (min-max) of {a.reps} (search {a.search_reps}, idle {a.idle_reps})"
    )
    print("| measure | " + " | ".join(t.name for t in targets) + " |")
    print("|---" * (len(targets) + 1) + "|")
    for key in targets[-1].results:
        print(f"| {key} | " + " | ".join(t.results.get(key, "-") for t in targets) + " |")


if __name__ == "__main__":
    main()
