#!/usr/bin/env python3
"""Scale-out benchmark: SMTP ingest and IMAP retrieval with one node and with two nodes of
`securemail serve` (child processes on this machine) on one PostgreSQL database.

Ingest: N messages (bench/retrieval.py's deterministic ~5.7 KB messages) through the MX
listener over M concurrent SMTP sessions; accepted msg/s counts from the first connection to the
last 250. Retrieval: M IMAP clients each `FETCH 1:* BODY.PEEK[]` of the whole mailbox
(bench/retrieval.py's client); msg/s = messages received by all clients / wall time. Sessions and
clients are split round-robin between the nodes. For each run it prints where the time went:
CPU seconds per node process, for all PostgreSQL processes and for this load generator (from
/proc), the busy share of the machine's cores, and the most PostgreSQL connections seen (total
and active) in the run's own database, so the bottleneck shows.

Each configuration gets a fresh database on the server (created and dropped here). The nodes'
SPF/DMARC lookups go to a stub DNS server on 127.0.0.1 that answers NXDOMAIN, so the benchmark
sends nothing off this machine.

Usage: .venv/bin/python bench/scale.py [--messages 2000] [--sessions 8] [--clients 4]
       [--nodes 1,2] [--database-url postgresql://postgres@127.0.0.1:5432/test]
Loopback only; every count is bounded and every wait has a timeout.
"""

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from retrieval import BIG, DOMAIN, Target, cli, imap_count, imap_fetch_all, make_message
from retrieval import start_ours as start_node  # bench/ is on sys.path: the script's folder

HOST = "127.0.0.1"
SENDER = "loadgen@sender.test"
TIMEOUT = 600.0  # seconds for any one phase
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---- a stub DNS server: every question gets NXDOMAIN (RFC 1035 4.1) --------------------------


def nxdomain(query: bytes) -> bytes:
    """The reply to `query`: same id, opcode and RD, QR and RA set, RCODE 3, question echoed."""
    end = 12
    while end < len(query) and query[end]:
        end += query[end] + 1
    question = query[12 : end + 5]  # the name, its zero byte, QTYPE and QCLASS
    flags = bytes([0x80 | (query[2] & 0x79), 0x83])
    return query[:2] + flags + b"\x00\x01\x00\x00\x00\x00\x00\x00" + question


@contextmanager
def stub_dns() -> Iterator[str]:
    """Serve NXDOMAIN on 127.0.0.1:53 while the block runs; yields the nameserver setting."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 53))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                query, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            if len(query) > 12:
                sock.sendto(nxdomain(query), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield HOST
    finally:
        stop.set()
        thread.join(5)
        sock.close()


# ---- what the processes spend ------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 once it has gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def postgres_pids() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() == "postgres":
                    pids.append(int(entry))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return pids


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


@dataclass
class Usage:
    """CPU seconds and PostgreSQL connections over one timed phase."""

    wall: float = 0.0
    nodes: list[float] = field(default_factory=list)
    postgres: float = 0.0
    loadgen: float = 0.0
    busy_share: float = 0.0
    connections: int = 0
    active: int = 0
    in_transaction: int = 0  # idle in transaction: a node holds a transaction open
    lock_waits: int = 0  # waiting for a lock another transaction holds

    def describe(self) -> str:
        nodes = ", ".join(f"{c / self.wall:.2f}" for c in self.nodes)
        return (
            f"cores busy: nodes [{nodes}], postgres {self.postgres / self.wall:.2f}, "
            f"load generator {self.loadgen / self.wall:.2f}; machine {self.busy_share:.0%} busy "
            f"(load avg {os.getloadavg()[0]:.1f}); PG connections max {self.connections} "
            f"(most at once: {self.active} active, {self.lock_waits} waiting for a lock, "
            f"{self.in_transaction} idle in transaction)"
        )


class Meter:
    """Samples CPU from /proc and pg_stat_activity around one phase."""

    def __init__(self, node_pids: list[int], dsn: str, database: str) -> None:
        self.node_pids, self.dsn, self.database = node_pids, dsn, database

    def _snapshot(self) -> tuple[float, list[float], dict[int, float], float, tuple[float, float]]:
        pg = {pid: cpu_seconds(pid) for pid in postgres_pids()}
        nodes = [cpu_seconds(pid) for pid in self.node_pids]
        return time.monotonic(), nodes, pg, cpu_seconds(os.getpid()), machine_busy()

    async def _connections(self, stop: asyncio.Event, usage: Usage) -> None:
        conn = await asyncpg.connect(self.dsn, timeout=10)
        query = (
            "SELECT count(*), count(*) FILTER (WHERE state = 'active'), "
            "count(*) FILTER (WHERE wait_event_type = 'Lock'), "
            "count(*) FILTER (WHERE state = 'idle in transaction') "
            "FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"
        )
        try:
            while not stop.is_set():
                row = [int(v) for v in await conn.fetchrow(query, self.database)]
                usage.connections = max(usage.connections, row[0])
                usage.active = max(usage.active, row[1])
                usage.lock_waits = max(usage.lock_waits, row[2])
                usage.in_transaction = max(usage.in_transaction, row[3])
                await asyncio.sleep(0.1)
        finally:
            await conn.close()

    async def measure(self, phase: Callable[[], object]) -> Usage:
        """Run the blocking `phase` in a thread and return what it cost."""
        usage, stop = Usage(), asyncio.Event()
        sampler = asyncio.create_task(self._connections(stop, usage))
        t0, nodes0, pg0, me0, busy0 = self._snapshot()
        await asyncio.wait_for(asyncio.to_thread(phase), TIMEOUT)
        t1, nodes1, pg1, me1, busy1 = self._snapshot()
        stop.set()
        await sampler
        usage.wall = t1 - t0
        usage.nodes = [b - a for a, b in zip(nodes0, nodes1, strict=True)]
        usage.postgres = sum(c - pg0.get(pid, 0.0) for pid, c in pg1.items())
        usage.loadgen = me1 - me0
        usage.busy_share = (busy1[0] - busy0[0]) / max(busy1[1] - busy0[1], 1.0)
        return usage


# ---- load ----------------------------------------------------------------------------------


async def _expect(reader: asyncio.StreamReader, code: bytes) -> None:
    """Read one SMTP reply (all its lines) and check its code."""
    while True:
        line = await reader.readline()
        if not line.startswith(code):
            raise RuntimeError(f"expected {code.decode()}, got {line!r}")
        if line[3:4] != b"-":
            return


async def smtp_session(port: int, numbers: range) -> None:
    """One SMTP session delivering messages `numbers` to BIG, one transaction each."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        await _expect(reader, b"220")
        writer.write(b"EHLO loadgen.test\r\n")
        await _expect(reader, b"250")
        for i in numbers:
            writer.write(f"MAIL FROM:<{SENDER}>\r\n".encode())
            await _expect(reader, b"250")
            writer.write(f"RCPT TO:<{BIG}>\r\n".encode())
            await _expect(reader, b"250")
            writer.write(b"DATA\r\n")
            await _expect(reader, b"354")
            writer.write(make_message(i).replace(b"\r\n.", b"\r\n..") + b".\r\n")
            await _expect(reader, b"250")
        writer.write(b"QUIT\r\n")
        await _expect(reader, b"221")
    finally:
        writer.close()


def ingest(ports: list[int], messages: int, sessions: int) -> None:
    """`messages` over `sessions` concurrent sessions, session k on node k mod len(ports)."""
    shares = [range(k, messages, sessions) for k in range(sessions)]

    async def run() -> None:
        await asyncio.gather(
            *(smtp_session(ports[k % len(ports)], share) for k, share in enumerate(shares))
        )

    asyncio.run(run())


def retrieve(targets: list[Target], clients: int) -> int:
    """`clients` concurrent whole-mailbox FETCHes, client k on node k mod len(targets)."""
    with ThreadPoolExecutor(max_workers=clients) as pool:
        done = pool.map(lambda k: imap_fetch_all(targets[k % len(targets)]), range(clients))
        return sum(n for n, _size in done)


# ---- one configuration -----------------------------------------------------------------------


def node_env(url: str, nameserver: str, data_dir: Path, key_file: Path) -> dict[str, str]:
    env = {**os.environ, "SECUREMAIL_SERVER_DATA_DIR": str(data_dir)}
    for name in ("SMTP", "SMTP_SUBMISSION", "SMTP_SUBMISSIONS", "HTTP", "POP3", "POP3_TLS"):
        env[f"SECUREMAIL_{name}_PORT"] = "0"
    return env | {
        "SECUREMAIL_IMAP_PORT": "0",
        "SECUREMAIL_IMAP_TLS_PORT": "0",
        "SECUREMAIL_IMAP_ALLOW_PLAIN_AUTH": "true",
        "SECUREMAIL_SMTP_MAX_CONNECTIONS_PER_IP": "200",
        "SECUREMAIL_IMAP_MAX_CONNECTIONS_PER_IP": "200",
        "SECUREMAIL_DATABASE_URL": url,
        "SECUREMAIL_DATABASE_BLOB_STORE": "database",  # the nodes share no disk
        "SECUREMAIL_AUTH_APP_PASSWORD_KEY_FILE": str(key_file),
        "SECUREMAIL_SECURITY_KEY_FILE": str(key_file.with_name("data.keys")),  # one keyring
        "SECUREMAIL_SMTP_MAX_CONNECTIONS_PER_USER": "200",
        "SECUREMAIL_IMAP_MAX_CONNECTIONS_PER_USER": "200",
        "SECUREMAIL_DNS_NAMESERVERS": nameserver,
    }


@contextmanager
def nodes_running(envs: list[dict[str, str]]) -> Iterator[list[tuple[int, dict[str, int]]]]:
    """Start one `securemail serve` per environment; yields (pid, ports) for each."""
    procs: list[subprocess.Popen[str]] = []
    try:
        started = []
        for env in envs:
            procs.append(start_node(env, Path(env["SECUREMAIL_SERVER_DATA_DIR"])))
            ports = json.loads(
                (Path(env["SECUREMAIL_SERVER_DATA_DIR"]) / "run/ports.json").read_text()
            )
            started.append((procs[-1].pid, ports))
        yield started
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(60)


async def one_configuration(a: argparse.Namespace, count: int, nameserver: str) -> list[str]:
    """Provision a fresh database, start `count` nodes, ingest, retrieve; the report lines."""
    database = "scale_" + secrets.token_hex(4)
    admin = await asyncpg.connect(a.database_url, timeout=10)
    await admin.execute(f'CREATE DATABASE "{database}"')
    url = a.database_url.rsplit("/", 1)[0] + "/" + database
    work = Path(tempfile.mkdtemp(prefix="securemail-scale-"))
    try:
        envs = [
            node_env(url, nameserver, work / f"node{n}", work / "app.key") for n in range(count)
        ]
        cli(envs[0], "org", "create", "Bench", "--domain", DOMAIN)
        cli(envs[0], "user", "create", BIG, "--password-stdin", stdin="benchpass-long\n")
        password = cli(envs[0], "user", "app-password", BIG, "--protocols", "imap")
        with nodes_running(envs) as started:
            return await measure(
                a, started, password.strip().splitlines()[-1].strip(), url, database
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


async def measure(
    a: argparse.Namespace,
    started: list[tuple[int, dict[str, int]]],
    password: str,
    url: str,
    database: str,
) -> list[str]:
    meter = Meter([pid for pid, _ports in started], url, database)
    n = len(started)
    smtp = [ports["smtp"] for _pid, ports in started]
    targets = [
        Target(f"node{k}", ports["imap"], ports["pop3"], {BIG: password}, lambda: [])
        for k, (_pid, ports) in enumerate(started)
    ]
    took = await meter.measure(lambda: ingest(smtp, a.messages, a.sessions))
    stored = imap_count(targets[-1], BIG)
    if stored != a.messages:
        raise SystemExit(f"{n} node(s): {stored} of {a.messages} messages stored")
    fetched: list[int] = []
    got = await meter.measure(lambda: fetched.append(retrieve(targets, a.clients)))
    return [
        f"| {n} | ingest, {a.sessions} sessions | {a.messages / took.wall:,.0f} | "
        f"{took.describe()} |",
        f"| {n} | retrieval, {a.clients} clients | {fetched[0] / got.wall:,.0f} | "
        f"{got.describe()} |",
    ]


async def main_async(a: argparse.Namespace) -> None:
    print(
        f"# securemail scale-out, {platform.node()}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, PostgreSQL, "
        f"{a.messages} messages of ~5.7 KB, nodes are child processes on this machine"
    )
    print("| nodes | load | msg/s | where the time went |")
    print("|---|---|---|---|")
    with stub_dns() as nameserver:
        for count in (int(c) for c in a.nodes.split(",")):
            for line in await one_configuration(a, count, nameserver):
                print(line, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--sessions", type=int, default=8, help="concurrent SMTP sessions")
    ap.add_argument("--clients", type=int, default=4, help="concurrent IMAP clients")
    ap.add_argument("--nodes", default="1,2", help="comma list of node counts to run")
    ap.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    a = ap.parse_args()
    if a.messages > 100_000 or a.sessions > 100 or a.clients > 50:
        raise SystemExit("bounded: --messages <= 100000, --sessions <= 100, --clients <= 50")
    if any(int(c) not in (1, 2, 3, 4) for c in a.nodes.split(",")):
        raise SystemExit("--nodes: counts from 1 to 4")
    asyncio.run(main_async(a))


if __name__ == "__main__":
    main()
