#!/usr/bin/env python3
"""SMTP ingest benchmark: N messages of ~5 KB over 1, 10 and 50 concurrent sessions into a
running `securemail serve`; prints accepted msg/s (every DATA got its 250) and end-to-end msg/s
(until all are visible in the mailbox). The load generator is Postfix's `smtp-source`, the same
client ../shared/peerbench uses for the Postfix + Dovecot reference, so figures compare.

Usage: .venv/bin/python bench/smtp_ingest.py [--messages 5000] [--sessions 1,10,50] [--reps 5]
       [--database-url postgresql://postgres@127.0.0.1:5432/bench]   (default: embedded SQLite)
Needs: smtp-source (Debian package postfix). Loopback only; bounded counts and timeouts.
"""

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from securemail import app
from securemail.config import load_settings
from securemail.store.schema import folders, mailboxes, messages

SECUREMAIL = str(Path(sys.executable).with_name("securemail"))
RCPT = "bench@example.test"


def securemail(env: dict[str, str], *args: str, stdin: str = "") -> None:
    subprocess.run(
        [SECUREMAIL, *args], env=env, input=stdin, text=True, check=True, stdout=subprocess.DEVNULL
    )


def start_server(env: dict[str, str], data_dir: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [SECUREMAIL, "serve"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "securemail ready" in line:
            break
    else:
        raise SystemExit("securemail serve did not start")
    subprocess.Popen(["cat"], stdin=proc.stderr, stdout=subprocess.DEVNULL)  # keep draining
    ports = json.loads((data_dir / "run" / "ports.json").read_text())
    return proc, int(ports["smtp"])


async def count_inbox(env: dict[str, str]) -> int:
    runtime = app.build(load_settings(env=env))
    try:
        async with runtime.db.read() as conn:
            query = (
                select(func.count())
                .select_from(messages.join(folders, folders.c.id == messages.c.folder_id))
                .join(mailboxes, mailboxes.c.id == folders.c.mailbox_id)
                .where(mailboxes.c.address == RCPT, folders.c.name == "INBOX")
            )
            return int(await conn.scalar(query) or 0)
    finally:
        await runtime.close()


def one_run(
    env: dict[str, str], port: int, n: int, size: int, sessions: int
) -> tuple[float, float]:
    before = asyncio.run(count_inbox(env))
    cmd = [
        "smtp-source",
        "-s",
        str(sessions),
        "-m",
        str(n),
        "-l",
        str(size),
        "-f",
        "loadgen@sender.test",
        "-t",
        RCPT,
        "-M",
        "loadgen.test",
        f"127.0.0.1:{port}",
    ]
    t0 = time.monotonic()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=1800)
    t_accept = time.monotonic() - t0
    if done.returncode != 0:
        raise SystemExit(f"smtp-source failed: {done.stderr.decode()[-300:]}")
    deadline = time.monotonic() + 600
    while asyncio.run(count_inbox(env)) < before + n:
        if time.monotonic() > deadline:
            raise SystemExit("messages did not all arrive")
        time.sleep(0.05)
    t_e2e = time.monotonic() - t0
    return n / t_accept, n / t_e2e


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--size", type=int, default=5120)
    ap.add_argument("--sessions", default="1,10,50")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--database-url", default="")
    a = ap.parse_args()
    if a.messages > 100_000 or a.reps > 20:
        raise SystemExit("bounded: --messages <= 100000, --reps <= 20")
    if shutil.which("smtp-source") is None:
        raise SystemExit("smtp-source not found: apt-get install postfix")
    data_dir = Path(tempfile.mkdtemp(prefix="securemail-bench-"))
    env = {
        **os.environ,
        "SECUREMAIL_SERVER_DATA_DIR": str(data_dir),
        "SECUREMAIL_SMTP_PORT": "0",
        "SECUREMAIL_SMTP_SUBMISSION_PORT": "0",
        "SECUREMAIL_SMTP_SUBMISSIONS_PORT": "0",
        "SECUREMAIL_HTTP_PORT": "0",
        "SECUREMAIL_POP3_PORT": "0",
        "SECUREMAIL_POP3_TLS_PORT": "0",
        "SECUREMAIL_IMAP_PORT": "0",
        "SECUREMAIL_IMAP_TLS_PORT": "0",
        "SECUREMAIL_SMTP_MAX_CONNECTIONS_PER_IP": "200",
        "SECUREMAIL_SMTP_MAX_COMMANDS_BEFORE_MAIL": "1000",
    }
    if a.database_url:
        env["SECUREMAIL_DATABASE_URL"] = a.database_url
    securemail(env, "org", "create", "Bench", "--domain", "example.test")
    securemail(env, "user", "create", RCPT, "--password-stdin", stdin="benchpass-long\n")
    proc, port = start_server(env, data_dir)
    print(
        f"# securemail SMTP ingest, {platform.node()}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"store={'PostgreSQL' if a.database_url else 'SQLite'}, "
        f"{a.messages} x {a.size} B, median (min-max) of {a.reps}"
    )
    print("| sessions | accepted msg/s | end-to-end msg/s |")
    print("|---|---|---|")
    try:
        for sessions in (int(s) for s in a.sessions.split(",")):
            runs = [one_run(env, port, a.messages, a.size, sessions) for _ in range(a.reps)]
            print(
                f"| {sessions} | {fmt([r[0] for r in runs])} | {fmt([r[1] for r in runs])} |",
                flush=True,
            )
    finally:
        proc.terminate()
        proc.wait(60)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
