"""What both soaks share: the serve child, the demo store, a small asyncio IMAP client, figures."""

import asyncio
import contextlib
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

SECUREMAIL = str(Path(sys.executable).with_name("securemail"))
HOST = "127.0.0.1"
READY = "securemail ready"
DOMAIN = "polres.co.uk"
GROUP = "gm.zerotolerance@polres.co.uk"
STAFF = ("alice", "bob", "carol", "dave", "erin")
LISTENERS = ("SMTP", "SMTP_SUBMISSION", "SMTP_SUBMISSIONS", "HTTP", "POP3", "POP3_TLS")
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
CSRF_BODY = re.compile(r'data-csrf="([^"]+)"')
LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")


# ---- the server ----------------------------------------------------------------------------


def server_env(data_dir: Path, database_url: str, max_conns: int) -> dict[str, str]:
    """The environment of every `securemail` child: its own data dir, ports chosen by the
    kernel, plain LOGIN on loopback, cheap argon2id (logins are not what a soak measures)."""
    env = {**os.environ, "SECUREMAIL_SERVER_DATA_DIR": str(data_dir)}
    for name in (*LISTENERS, "IMAP", "IMAP_TLS"):
        env[f"SECUREMAIL_{name}_PORT"] = "0"
    env |= {
        "SECUREMAIL_IMAP_ALLOW_PLAIN_AUTH": "true",
        "SECUREMAIL_SMTP_ALLOW_PLAIN_AUTH": "true",
        "SECUREMAIL_AUTH_ARGON2_TIME_COST": "1",
        "SECUREMAIL_AUTH_ARGON2_MEMORY_KIB": "8192",
        "SECUREMAIL_AUTH_ARGON2_PARALLELISM": "1",
    }
    for proto in ("SMTP", "IMAP", "POP3"):
        env[f"SECUREMAIL_{proto}_MAX_CONNECTIONS_PER_IP"] = str(max_conns)
        env[f"SECUREMAIL_{proto}_MAX_CONNECTIONS_PER_USER"] = str(max_conns)  # a few users
    env["SECUREMAIL_SMTP_MAX_COMMANDS_BEFORE_MAIL"] = "1000000"
    env["SECUREMAIL_LIMITS_MAX_SUBMISSIONS_PER_HOUR"] = "0"  # the soaks send as one user
    if database_url:
        env["SECUREMAIL_DATABASE_URL"] = database_url
    return env


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run `securemail ARGS` with the interpreter (and PYTHONPATH) of this process."""
    return subprocess.run(
        [sys.executable, SECUREMAIL, *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=300,
        check=False,
    )


def server_code(env: dict[str, str]) -> str:
    """Where the children import securemail from (the snapshot, when PYTHONPATH names one)."""
    probe = "import securemail, pathlib; print(pathlib.Path(securemail.__file__).parent)"
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, text=True, capture_output=True, check=True
    )
    return done.stdout.strip()


def load_demo(env: dict[str, str], data_dir: Path) -> dict[str, str]:
    """Migrate, load the demo organisation and return its passwords by address."""
    done = cli(env, "demo")
    if done.returncode != 0:
        raise SystemExit(f"securemail demo failed: {done.stderr}")
    passwords: dict[str, str] = {}
    for line in (data_dir / "demo-passwords.txt").read_text().splitlines():
        address, _, password = line.strip().partition("  ")
        if address:
            passwords[address] = password.strip()
    return passwords


class Serve:
    """One `securemail serve` child; its stderr goes to a log file so it can never block."""

    def __init__(self, env: dict[str, str], data_dir: Path) -> None:
        self.env = env
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 120) -> dict[str, int]:
        self.starts += 1
        log = self.data_dir / f"serve-{self.starts}.log"
        ports_file = self.data_dir / "run" / "ports.json"
        ports_file.unlink(missing_ok=True)
        with log.open("wb") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, SECUREMAIL, "serve"],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=sink,
            )
        deadline = time.monotonic() + timeout
        while READY not in log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.05)
        ports: dict[str, int] = json.loads(ports_file.read_text())
        return ports

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(120)

    def log_tail(self, chars: int = 4000) -> str:
        return (self.data_dir / f"serve-{self.starts}.log").read_text(errors="replace")[-chars:]


def rss_mib(pid: int) -> float:
    """VmRSS of one process, in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    return int(found.group(1)) / 1024 if found else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (/proc/<pid>/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine() -> str:
    return (
        f"{platform.node()}, {os.cpu_count()} cpus, linux {platform.release()}, "
        f"python {platform.python_version()}, load average {loadavg()}"
    )


def utc_now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())


def percentiles(values: list[float]) -> str:
    """`median / p99 / max (n)` of milliseconds, or `-` when nothing was measured."""
    if not values:
        return "-"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"{statistics.median(ordered):.1f} / {p99:.1f} / {ordered[-1]:.1f} ms (n={len(values)})"


# ---- IMAP ----------------------------------------------------------------------------------


class ImapError(Exception):
    """A tagged NO or BAD, or a connection that closed."""


def quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Imap:
    """Just enough IMAP4rev1 for the soaks: tagged commands, literals in answers, IDLE."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.count = 0

    @classmethod
    async def connect(cls, port: int, timeout: float = 30) -> "Imap":
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
        client = cls(reader, writer)
        greeting = await asyncio.wait_for(client.read_response(), timeout)
        if not greeting.startswith(b"* OK"):
            raise ImapError(greeting.decode(errors="replace"))
        return client

    async def read_response(self) -> bytes:
        """One response line, with any literals it carries spliced in."""
        line = await self.reader.readuntil(b"\r\n")
        while (found := LITERAL.search(line)) is not None:
            line += await self.reader.readexactly(int(found.group(1)))
            line += await self.reader.readuntil(b"\r\n")
        return line

    async def command(self, text: str, timeout: float = 60) -> list[bytes]:
        """Send one command; its untagged responses, or ImapError unless it ends in OK."""
        return await asyncio.wait_for(self._command(text), timeout)

    async def _command(self, text: str) -> list[bytes]:
        self.count += 1
        tag = f"s{self.count}".encode()
        self.writer.write(tag + b" " + text.encode() + b"\r\n")
        await self.writer.drain()
        untagged: list[bytes] = []
        while True:
            line = await self.read_response()
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise ImapError(f"{text.split()[0]}: {line.decode(errors='replace')}")
                return untagged
            untagged.append(line)

    async def login(self, user: str, password: str) -> None:
        await self.command(f"LOGIN {quoted(user)} {quoted(password)}")

    async def idle(self, timeout: float = 30) -> list[bytes]:
        """Start IDLE; the untagged lines that came before the continuation."""
        self.count += 1
        self.writer.write(f"s{self.count} IDLE\r\n".encode())
        await self.writer.drain()
        before: list[bytes] = []
        while True:
            line = await asyncio.wait_for(self.read_response(), timeout)
            if line.startswith(b"+"):
                return before
            if not line.startswith(b"*"):
                raise ImapError(f"IDLE: {line.decode(errors='replace')}")
            before.append(line)

    async def done(self, timeout: float = 30) -> list[bytes]:
        """End IDLE; the untagged lines heard until the tagged OK."""
        tag = f"s{self.count} ".encode()
        self.writer.write(b"DONE\r\n")
        await self.writer.drain()
        heard: list[bytes] = []
        while True:
            line = await asyncio.wait_for(self.read_response(), timeout)
            if line.startswith(tag):
                if not line.startswith(tag + b"OK"):
                    raise ImapError(f"DONE: {line.decode(errors='replace')}")
                return heard
            heard.append(line)

    async def close(self) -> None:
        with contextlib.suppress(ImapError, OSError, TimeoutError, asyncio.IncompleteReadError):
            await self.command("LOGOUT", timeout=5)
        self.writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 5)


def exists_of(lines: list[bytes]) -> int | None:
    """The last `* n EXISTS` among untagged lines, if any."""
    found = None
    for line in lines:
        match = re.match(rb"\* (\d+) EXISTS", line)
        if match:
            found = int(match.group(1))
    return found


# ---- webmail -------------------------------------------------------------------------------


async def web_login(client: httpx.AsyncClient, address: str, password: str) -> str:
    """Log in through the login form; the session's CSRF token (for the JSON API's writes)."""
    page = await client.get("/login")
    token = CSRF_FIELD.search(page.text)
    if token is None:
        raise RuntimeError(f"no login form: {page.status_code}")
    answer = await client.post(
        "/login", data={"csrf": token.group(1), "address": address, "password": password}
    )
    if answer.status_code != 303:
        raise RuntimeError(f"login of {address} failed: {answer.status_code}")
    home = await client.get("/", follow_redirects=True)
    csrf = CSRF_BODY.search(home.text)
    if csrf is None:
        raise RuntimeError(f"no session CSRF token for {address}")
    return csrf.group(1)


# ---- the store, read after the server stopped ----------------------------------------------

CHECKS = {
    "message without content": "SELECT count(*) FROM messages m "
    "LEFT JOIN contents c ON c.id = m.content_id WHERE c.id IS NULL",
    "message without folder": "SELECT count(*) FROM messages m "
    "LEFT JOIN folders f ON f.id = m.folder_id WHERE f.id IS NULL",
    "uid not below uidnext": "SELECT count(*) FROM messages m "
    "JOIN folders f ON f.id = m.folder_id WHERE m.uid >= f.uidnext",
    "folder count wrong": "SELECT count(*) FROM folders f WHERE f.message_count <> "
    "(SELECT count(*) FROM messages m WHERE m.folder_id = f.id)",
    "seen without message": "SELECT count(*) FROM seen s "
    "LEFT JOIN messages m ON m.id = s.message_id WHERE m.id IS NULL",
    "seen in wrong folder": "SELECT count(*) FROM seen s "
    "JOIN messages m ON m.id = s.message_id WHERE s.folder_id <> m.folder_id",
}
SEARCH_CHECKS = {
    "sqlite": {
        "content not indexed": "SELECT count(*) FROM contents c "
        "WHERE NOT EXISTS (SELECT 1 FROM content_fts x WHERE x.rowid = c.id)",
        "index row without content": "SELECT count(*) FROM content_fts x "
        "WHERE NOT EXISTS (SELECT 1 FROM contents c WHERE c.id = x.rowid)",
    },
    "postgresql": {
        "content not indexed": "SELECT count(*) FROM contents c "
        "WHERE NOT EXISTS (SELECT 1 FROM content_search x WHERE x.content_id = c.id)",
    },
}


async def dangling(env: dict[str, str]) -> dict[str, int]:
    """Rows that point at nothing or disagree with what they count, by kind; also contents
    whose blob is missing. Only SELECTs, in one read transaction; run it on a stopped store."""
    from sqlalchemy import select, text

    from securemail import app
    from securemail.config import load_settings
    from securemail.store.schema import contents

    runtime = app.build(load_settings(env=env))
    found: dict[str, int] = {}
    try:
        async with runtime.db.read() as conn:
            checks = CHECKS | SEARCH_CHECKS.get(conn.dialect.name, {})
            for name, sql in checks.items():
                found[name] = int(await conn.scalar(text(sql)) or 0)
            blobs = runtime.services.deps.blobs
            ids = (await conn.execute(select(contents.c.blob_id))).scalars().all()
            found["content without blob"] = sum([not await blobs.exists(conn, b) for b in ids])
    finally:
        await runtime.close()
    return found
