"""Load soak: SMTP, IMAP IDLE and webmail sessions on one node for minutes; errors, RSS, latency."""

import argparse
import asyncio
import random
import re
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiosmtplib
import httpx
from common import (
    DOMAIN,
    GROUP,
    HOST,
    Imap,
    Serve,
    cli,
    cpu_seconds,
    dangling,
    load_demo,
    loadavg,
    machine,
    percentiles,
    quoted,
    rss_mib,
    server_code,
    server_env,
    utc_now,
    web_login,
)

SENDER = "soak@sender.example"
PROBE_TO = f"erin@{DOMAIN}"  # only the probe writes to erin: her IDLE sessions time it
SMTP_TO = [f"{n}@{DOMAIN}" for n in ("alice", "bob", "carol", "dave")] + [GROUP]
IDLE_AT = [(f"{n}@{DOMAIN}", "INBOX") for n in ("alice", "bob", "carol", "dave", "erin")]
IDLE_AT.append((f"bob@{DOMAIN}", f"Shared/{GROUP}/INBOX"))
# --steady: who keeps each delivered-to INBOX at a constant size (dave holds Delete on the group)
TRIM_AT = [(f"{n}@{DOMAIN}", "INBOX") for n in ("alice", "bob", "carol", "dave", "erin")]
TRIM_AT.append((f"dave@{DOMAIN}", f"Shared/{GROUP}/INBOX"))
TRIM_TIMEOUT = 300  # an EXPUNGE wakes every IDLE view of the folder: slow on a loaded machine
WEB_USERS = [f"{n}@{DOMAIN}" for n in ("alice", "bob", "carol", "dave")]
WORDS = ["evaluation", "pilot", "custody", "warrant", "enquiry", "statistics", "patrol"]
GROUP_LINK = re.compile(
    rf'href="(/mail/\d+/\d+)">\s*<span class="name">[^<]*</span>\s*'
    rf'<span class="addr">{re.escape(GROUP)}',
    re.I,
)
MESSAGE_LINK = re.compile(r'data-id="(\d+)"')
T = TypeVar("T")


@dataclass
class Stats:
    """Everything the soak counts; one instance shared by every client task."""

    deadline: float
    errors: Counter[str] = field(default_factory=Counter)
    samples: dict[str, list[str]] = field(default_factory=dict)
    smtp_ms: list[float] = field(default_factory=list)
    web_ms: dict[str, list[float]] = field(default_factory=dict)
    exists_heard: int = 0
    idles: int = 0
    trimmed: int = 0  # messages expunged by --steady
    probe_ms: list[float] = field(default_factory=list)
    probe: tuple[int, float] = (0, 0.0)  # number and start of the last probe message

    def error(self, kind: str, detail: object) -> None:
        self.errors[kind] += 1
        kept = self.samples.setdefault(kind, [])
        if len(kept) < 5:
            kept.append(f"{time.strftime('%H:%M:%S')} {detail!r}"[:500])

    def running(self) -> bool:
        return time.monotonic() < self.deadline


def message(session: int, n: int, rcpt: str, rng: random.Random) -> str:
    words = " ".join(rng.choices(WORDS, k=400))
    lines = "\r\n".join(words[i : i + 72] for i in range(0, len(words), 72))
    return (
        f"From: Soak <{SENDER}>\r\nTo: {rcpt}\r\nSubject: load soak {session}-{n} "
        f"{rng.choice(WORDS)}\r\nMessage-ID: <load-{session}-{n}@soak.test>\r\n\r\n{lines}\r\n"
    )


# ---- SMTP ----------------------------------------------------------------------------------


async def smtp_connect(port: int) -> aiosmtplib.SMTP:
    smtp = aiosmtplib.SMTP(hostname=HOST, port=port, timeout=60, start_tls=False)
    await smtp.connect()
    return smtp


async def smtp_session(port: int, session: int, stats: Stats, pause: float) -> None:
    """One session delivering in a loop, `pause` seconds (randomised) between messages."""
    rng = random.Random(session)
    smtp = await smtp_connect(port)
    await asyncio.sleep(rng.uniform(0, pause))
    n = 0
    while stats.running():
        n += 1
        rcpt = SMTP_TO[n % len(SMTP_TO)]
        started = time.monotonic()
        try:
            await smtp.sendmail(SENDER, [rcpt], message(session, n, rcpt, rng))
            stats.smtp_ms.append((time.monotonic() - started) * 1000)
        except Exception as exc:
            stats.error("smtp", exc)
            smtp.close()
            await asyncio.sleep(1)
            smtp = await smtp_connect(port)
        await asyncio.sleep(rng.uniform(0.5, 1.5) * pause)
    await smtp.quit()


async def probe_loop(port: int, stats: Stats, every: float) -> None:
    """A message to erin every `every` seconds; her IDLE sessions time when they hear of it."""
    smtp = await smtp_connect(port)
    number = 0
    while stats.running():
        await asyncio.sleep(every)
        number += 1
        stats.probe = (number, time.monotonic())
        try:
            await smtp.sendmail(SENDER, [PROBE_TO], message(-1, number, PROBE_TO, random.Random()))
        except Exception as exc:
            stats.error("smtp probe", exc)
            smtp.close()
            smtp = await smtp_connect(port)
    await smtp.quit()


# ---- IMAP IDLE -----------------------------------------------------------------------------


async def imap_open(port: int, user: str, password: str, folder: str) -> Imap:
    imap = await Imap.connect(port, timeout=120)
    await imap.login(user, password)
    await imap.command(f"SELECT {quoted(folder)}", timeout=120)
    return imap


def heard(stats: Stats, lines: list[bytes], probe_seen: list[int], timed: bool) -> None:
    """Count EXISTS; on a probe-only mailbox, time the first one after each probe."""
    for line in lines:
        if not re.match(rb"\* \d+ EXISTS", line):
            continue
        stats.exists_heard += 1
        number, started = stats.probe
        if timed and number > probe_seen[0]:
            probe_seen[0] = number
            stats.probe_ms.append((time.monotonic() - started) * 1000)


async def idle_session(imap: Imap, stats: Stats, reidle: float, timed: bool) -> None:
    """IDLE until the end, re-issuing it every `reidle` seconds (RFC 2177 asks < 29 min)."""
    probe_seen = [0]
    period = reidle * random.uniform(0.8, 1.2)  # spread the re-IDLEs out
    try:
        heard(stats, await imap.idle(), probe_seen, timed)
        stats.idles += 1
        renew = time.monotonic() + period
        while stats.running():
            wait = min(renew, stats.deadline) - time.monotonic()
            try:
                line = await asyncio.wait_for(imap.read_response(), max(wait, 0.01))
            except TimeoutError:
                if time.monotonic() >= renew and stats.running():
                    heard(stats, await imap.done(), probe_seen, timed)
                    heard(stats, await imap.idle(), probe_seen, timed)
                    stats.idles += 1
                    renew = time.monotonic() + period
                continue
            if line.startswith(b"* BYE"):
                raise ConnectionError(line.decode(errors="replace"))
            heard(stats, [line], probe_seen, timed)
        heard(stats, await imap.done(), probe_seen, timed)
    except Exception as exc:
        stats.error("imap idle", exc)
    finally:
        await imap.close()


async def trim_loop(imap: Imap, keep: int, stats: Stats) -> None:
    """Every 10 s, expunge the oldest messages beyond the newest `keep`: constant mailboxes,
    so that memory that still grows is not mail held by the IDLE views."""
    try:
        while stats.running():
            await asyncio.sleep(10)
            found = await imap.command("UID SEARCH ALL", timeout=TRIM_TIMEOUT)
            uids = sorted(int(u) for line in found if line.startswith(b"* SEARCH")
                          for u in line.split()[2:])  # fmt: skip
            if len(uids) > keep:
                last = uids[len(uids) - keep - 1]
                await imap.command(f"UID STORE 1:{last} +FLAGS.SILENT (\\Deleted)", TRIM_TIMEOUT)
                await imap.command("EXPUNGE", timeout=TRIM_TIMEOUT)
                stats.trimmed += len(uids) - keep
    except Exception as exc:
        stats.error("imap trim", exc)
    finally:
        await imap.close()


# ---- webmail -------------------------------------------------------------------------------


@dataclass
class WebUser:
    client: httpx.AsyncClient
    inboxes: list[str]  # /mail/<mailbox>/<folder> of the personal and the group INBOX


async def web_user(port: int, address: str, password: str) -> WebUser:
    client = httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=60)
    await web_login(client, address, password)
    home = await client.get("/", follow_redirects=True)
    group = GROUP_LINK.search(home.text)
    if group is None:
        raise RuntimeError(f"{address} does not see the group mailbox")
    return WebUser(client, [home.url.path, group.group(1)])


async def timed_get(user: WebUser, kind: str, url: str, stats: Stats) -> str:
    started = time.monotonic()
    try:
        answer = await user.client.get(url)
    except Exception as exc:
        stats.error(f"web {kind}", exc)
        return ""
    stats.web_ms.setdefault(kind, []).append((time.monotonic() - started) * 1000)
    if answer.status_code != 200:
        stats.error(f"web {kind}", f"{url}: {answer.status_code} {answer.text[:200]}")
        return ""
    return answer.text


async def web_session(user: WebUser, stats: Stats, think: tuple[float, float], n: int) -> None:
    """List a page of an INBOX, open one of its messages, search; a think time before each."""
    rng = random.Random(n)
    while stats.running():
        inbox = user.inboxes[rng.randrange(2)]
        await asyncio.sleep(rng.uniform(*think))
        listing = await timed_get(user, "list", f"{inbox}?page={rng.randint(1, 3)}", stats)
        ids = MESSAGE_LINK.findall(listing)
        await asyncio.sleep(rng.uniform(*think))
        if ids:
            await timed_get(user, "open", f"{inbox}/{rng.choice(ids)}", stats)
        await asyncio.sleep(rng.uniform(*think))
        mailbox = inbox.split("/")[2]
        await timed_get(user, "search", f"/mail/{mailbox}/search?q={rng.choice(WORDS)}", stats)
    await user.client.aclose()


# ---- the soak ------------------------------------------------------------------------------


async def gather_bounded(jobs: list[Coroutine[Any, Any, T]], limit: int = 20) -> list[T]:
    """Await coroutines at most `limit` at a time (logins cost CPU on both sides)."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Coroutine[Any, Any, T]) -> T:
        async with gate:
            return await job

    return list(await asyncio.gather(*(one(j) for j in jobs)))


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def monitor(serve: Serve, stats: Stats, rss: list[str], started: float) -> None:
    """RSS, load average and the CPU share of server and clients every minute, as they come."""
    last = (time.monotonic(), cpu_seconds(serve.pid), client_cpu())
    while stats.running():
        await asyncio.sleep(min(60.0, max(0.1, stats.deadline - time.monotonic())))
        now = (time.monotonic(), cpu_seconds(serve.pid), client_cpu())
        server_pct, client_pct = ((now[i] - last[i]) / (now[0] - last[0]) * 100 for i in (1, 2))
        last, minute = now, (now[0] - started) / 60
        line = (
            f"t={minute:4.1f} min  RSS {rss_mib(serve.pid):7.1f} MiB  load {loadavg()}  "
            f"cpu server {server_pct:3.0f}% clients {client_pct:3.0f}%  "
            f"smtp {len(stats.smtp_ms)}  web {sum(len(v) for v in stats.web_ms.values())}  "
            f"EXISTS heard {stats.exists_heard}  errors {sum(stats.errors.values())}"
        )
        rss.append(line)
        print(line, flush=True)


async def soak(
    serve: Serve, ports: dict[str, int], pw: dict[str, str], args: argparse.Namespace
) -> tuple[Stats, list[str]]:
    rss = [f"after start: RSS {rss_mib(serve.pid):.1f} MiB, load {loadavg()}"]
    stats = Stats(deadline=float("inf"))
    targets = [IDLE_AT[i % len(IDLE_AT)] for i in range(args.imap)]
    imaps = await gather_bounded([imap_open(ports["imap"], u, pw[u], f) for u, f in targets])
    users = [WEB_USERS[i % len(WEB_USERS)] for i in range(args.web)]
    webs = await gather_bounded([web_user(ports["http"], u, pw[u]) for u in users])
    rss.append(f"clients connected: RSS {rss_mib(serve.pid):.1f} MiB, load {loadavg()}")
    print(rss[-1], flush=True)
    started, cpu = time.monotonic(), (cpu_seconds(serve.pid), client_cpu())
    stats.deadline = started + args.minutes * 60
    tasks: list[Coroutine[Any, Any, None]]
    tasks = [smtp_session(ports["smtp"], s, stats, args.smtp_pause) for s in range(args.smtp)]
    tasks.append(probe_loop(ports["smtp"], stats, args.probe))
    for imap, (user, _folder) in zip(imaps, targets, strict=True):
        tasks.append(idle_session(imap, stats, args.reidle, timed=user == PROBE_TO))
    if args.steady:
        trims = [await imap_open(ports["imap"], u, pw[u], f) for u, f in TRIM_AT]
        tasks += [trim_loop(imap, args.steady, stats) for imap in trims]
    think = (args.think_min, args.think_max)
    tasks += [web_session(w, stats, think, n) for n, w in enumerate(webs)]
    tasks.append(monitor(serve, stats, rss, started))
    for result in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(result, BaseException):
            stats.error("client task", result)
    wall = time.monotonic() - started
    used = (cpu_seconds(serve.pid) - cpu[0], client_cpu() - cpu[1])
    rss.append(f"end: RSS {rss_mib(serve.pid):.1f} MiB, load {loadavg()}")
    rss.append(
        f"CPU over the soak: server {used[0]:.0f} s ({used[0] / wall * 100:.0f}% of one core), "
        f"clients {used[1]:.0f} s ({used[1] / wall * 100:.0f}%)"
    )
    return stats, rss


def report(stats: Stats, rss: list[str], args: argparse.Namespace, after: list[str]) -> bool:
    print(f"\n# load soak summary, {utc_now()}, {args.minutes} min on one node")
    print(
        f"sessions: {args.smtp} SMTP (pause ~{args.smtp_pause} s), {args.imap} IMAP IDLE, "
        f"{args.web} webmail (think {args.think_min}-{args.think_max} s), "
        f"IDLE probe every {args.probe} s"
        + (f"; each INBOX trimmed to {args.steady} messages" if args.steady else "")
    )
    print("| measure | median / p99 / max |")
    print("|---|---|")
    print(f"| SMTP message (MAIL..250 after DATA) | {percentiles(stats.smtp_ms)} |")
    for kind in ("list", "open", "search"):
        print(f"| webmail {kind} | {percentiles(stats.web_ms.get(kind, []))} |")
    print(f"| IDLE: probe delivered -> EXISTS heard | {percentiles(stats.probe_ms)} |")
    rate = len(stats.smtp_ms) / args.minutes / 60
    print(f"messages delivered: {len(stats.smtp_ms)} ({rate:.1f}/s)")
    print(f"IDLE commands: {stats.idles}; EXISTS heard: {stats.exists_heard}; "
          f"expunged by --steady: {stats.trimmed}")  # fmt: skip
    for line in rss:
        print(f"  {line}")
    print(f"errors: {dict(stats.errors) or 0}")
    for kind, samples in stats.samples.items():
        for sample in samples:
            print(f"  {kind}: {sample}")
    for line in after:
        print(line)
    return not stats.errors


async def run(args: argparse.Namespace) -> bool:
    data_dir = Path(args.keep or tempfile.mkdtemp(prefix="securemail-load-soak-"))
    env = server_env(data_dir, args.database_url, args.smtp + args.imap + args.web + 100)
    print(f"# load soak, {utc_now()}: {machine()}")
    print(f"server code: {server_code(env)}; data: {data_dir}")
    pw = load_demo(env, data_dir)
    serve = Serve(env, data_dir)
    ports = serve.start()
    try:
        stats, rss = await soak(serve, ports, pw, args)
    finally:
        code = serve.terminate()
    problems = await dangling(env)
    audit = cli(env, "audit", "verify")
    after = [
        f"serve exit status after SIGTERM: {code}",
        f"dangling rows: {sum(problems.values())} {problems}",
        f"audit verify: exit {audit.returncode}: {(audit.stdout + audit.stderr).strip()[:200]}",
    ]
    clean = code == 0 and not sum(problems.values()) and audit.returncode == 0
    return report(stats, rss, args, after) and clean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--smtp", type=int, default=50, help="SMTP sessions")
    parser.add_argument("--imap", type=int, default=200, help="IMAP connections in IDLE")
    parser.add_argument("--web", type=int, default=50, help="webmail users")
    parser.add_argument("--smtp-pause", type=float, default=5.0, help="mean s between messages")
    parser.add_argument("--think-min", type=float, default=1.0)
    parser.add_argument("--think-max", type=float, default=3.0)
    parser.add_argument("--reidle", type=float, default=240, help="s between re-IDLEs")
    parser.add_argument("--probe", type=float, default=10, help="s between IDLE probe messages")
    steady = "keep each INBOX at this many messages (0: let them grow)"
    parser.add_argument("--steady", type=int, default=0, help=steady)
    parser.add_argument("--database-url", default="", help="an empty PostgreSQL database")
    parser.add_argument("--keep", default="", help="data directory (default: a new temp dir)")
    args = parser.parse_args()
    if not 0 < args.minutes <= 240 or max(args.smtp, args.web) > 500 or args.imap > 5000:
        raise SystemExit("bounded: --minutes <= 240, --smtp/--web <= 500, --imap <= 5000")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2 * (args.smtp + args.imap + args.web) + 256
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, want)), hard))
    sys.exit(0 if asyncio.run(run(args)) else 1)


if __name__ == "__main__":
    main()
