"""Domain events across nodes sharing one PostgreSQL database: NOTIFY out, LISTEN in.

Every `securemail serve` node runs one `EventBridge`. Events published on the node's bus
(after commit) are handed to `forward()`, queued, and sent by a background task with
`pg_notify` on a pooled connection of the store's engine. A second background task holds one
dedicated asyncpg connection that LISTENs on the channel; each notification from another node
is turned back into event dataclasses and handed to `deliver` (the bus's `publish_remote`,
which never forwards them again). A dropped listener connection is reopened with backoff;
events committed while it was down are not replayed (sessions catch up at their next command).

Channel: `securemail_events_<schema>` (`public` when no schema is set), so nodes on different
schemas of one database (per-test schemas) do not hear each other.

Payload, JSON, under PostgreSQL's 8000-byte limit (a large batch is split):

    {"v": 1, "node": "<this node's random id>",
     "events": [{"type": "MailboxChanged", "fields": {"mailbox_id": 3, ...}}, ...]}
"""

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import re
import secrets
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import text

from securemail.core.events import Event
from securemail.store.db import Database

log = logging.getLogger("securemail.events")

PAYLOAD_LIMIT = 7900  # bytes; PostgreSQL refuses a NOTIFY payload of 8000 bytes or more
CHANNEL_PREFIX = "securemail_events_"
IDENTIFIER_LIMIT = 63  # NAMEDATALEN - 1
OUTBOX_LIMIT = 10_000  # events waiting to be sent; beyond it they are dropped (and logged)
FORMAT_VERSION = 1

EVENT_TYPES: dict[str, type[Any]] = {cls.__name__: cls for cls in typing.get_args(Event)}


def channel_for(schema: str) -> str:
    """The NOTIFY channel for a schema: a lower-case identifier of at most 63 characters.
    A schema name that had to be changed to fit gets a hash of itself, so two schemas
    never share a channel."""
    original = schema or "public"
    cleaned = re.sub(r"[^a-z0-9_]", "_", original.lower())
    name = CHANNEL_PREFIX + cleaned
    if cleaned != original or len(name) > IDENTIFIER_LIMIT:
        digest = hashlib.sha256(original.encode()).hexdigest()[:10]
        name = name[: IDENTIFIER_LIMIT - len(digest) - 1] + "_" + digest
    return name


def listen_dsn(database_url: str) -> str:
    """asyncpg's DSN from the SQLAlchemy URL (`postgresql+asyncpg://...`)."""
    return re.sub(r"^postgres(ql)?\+asyncpg://", "postgresql://", database_url)


def _event_dict(event: Event) -> dict[str, Any]:
    return {"type": type(event).__name__, "fields": dataclasses.asdict(event)}


def encode(node: str, events: Iterable[Event]) -> list[str]:
    """As few payloads as fit the limit, each under PAYLOAD_LIMIT bytes of UTF-8."""
    head = {"v": FORMAT_VERSION, "node": node}
    overhead = len(json.dumps({**head, "events": []}, separators=(",", ":")).encode())
    payloads: list[str] = []
    batch: list[str] = []
    size = overhead
    for event in events:
        item = json.dumps(_event_dict(event), separators=(",", ":"))
        if overhead + len(item.encode()) >= PAYLOAD_LIMIT:
            log.error("event %r is too large for a notification; other nodes miss it", event)
            continue
        if batch and size + 1 + len(item.encode()) >= PAYLOAD_LIMIT:
            payloads.append(_join(head, batch))
            batch, size = [], overhead
        batch.append(item)
        size += len(item.encode()) + (1 if len(batch) > 1 else 0)
    if batch:
        payloads.append(_join(head, batch))
    return payloads


def _join(head: dict[str, Any], items: list[str]) -> str:
    prefix = json.dumps(head, separators=(",", ":"))[:-1]
    return prefix + ',"events":[' + ",".join(items) + "]}"


def decode(payload: str) -> tuple[str, list[Event]]:
    """(sender node, events) from a payload; ValueError says what is wrong with it."""
    try:
        data = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("v") != FORMAT_VERSION:
        raise ValueError("not a version 1 event notification")
    node, items = data.get("node"), data.get("events")
    if not isinstance(node, str) or not isinstance(items, list):
        raise ValueError("no node id or no event list")
    return node, [_event(item) for item in items]


def _event(item: object) -> Event:
    if not isinstance(item, dict) or not isinstance(item.get("fields"), dict):
        raise ValueError("an event is not an object with fields")
    cls = EVENT_TYPES.get(str(item.get("type")))
    if cls is None:
        raise ValueError(f"unknown event type {item.get('type')!r}")
    fields: dict[str, Any] = item["fields"]
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    if set(fields) != names:
        raise ValueError(f"{cls.__name__} wants the fields {sorted(names)}")
    for name, value in fields.items():
        kind = hints[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"{cls.__name__}.{name} is not {kind.__name__}")
    event: Event = cls(**fields)
    return event


@dataclass
class BridgeStats:
    """Counters for operators and tests."""

    sent: int = 0  # notifications sent
    received: int = 0  # events received from other nodes and published here
    own_ignored: int = 0  # notifications of this node, heard back and ignored
    malformed: int = 0  # notifications that could not be read
    dropped: int = 0  # events not sent (outbox full, or the NOTIFY failed)
    connects: int = 0  # times the listener connection was opened


class EventBridge:
    """Carries the events of one node's bus to the other nodes on the same database."""

    def __init__(
        self,
        db: Database,
        dsn: str,
        channel: str,
        deliver: Callable[..., None],
        *,
        reconnect_initial: float = 0.1,
        reconnect_max: float = 10.0,
        ping_seconds: float = 10.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self.node_id = secrets.token_hex(8)
        self.channel = channel
        self.stats = BridgeStats()
        self.listening = asyncio.Event()  # set while the LISTEN connection is up
        self._db = db
        self._dsn = dsn
        self._deliver = deliver
        self._reconnect_initial = reconnect_initial
        self._reconnect_max = reconnect_max
        self._ping_seconds = ping_seconds
        self._connect_timeout = connect_timeout
        self._outbox: asyncio.Queue[Event | None] = asyncio.Queue(OUTBOX_LIMIT + 1)
        self._listener: asyncpg.Connection | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def listener_pid(self) -> int | None:
        """The backend pid of the LISTEN connection, while it is up."""
        conn = self._listener
        return None if conn is None or conn.is_closed() else conn.get_server_pid()

    def forward(self, events: Sequence[Event]) -> None:
        """The bus's forwarder: queue local events for the sender; never blocks."""
        for event in events:
            if self._outbox.qsize() >= OUTBOX_LIMIT:
                self.stats.dropped += 1
                log.warning("event outbox full: %r is not sent to other nodes", event)
                continue
            self._outbox.put_nowait(event)

    async def start(self, wait: float = 5.0) -> None:
        """Start both tasks; wait up to `wait` seconds for the first LISTEN (then go on:
        the listener keeps trying in the background)."""
        self._tasks = [
            asyncio.create_task(self._send_loop(), name="event-notify"),
            asyncio.create_task(self._listen_loop(), name="event-listen"),
        ]
        try:
            await asyncio.wait_for(self.listening.wait(), wait)
        except TimeoutError:
            log.warning("event listener not connected after %.0fs; still trying", wait)

    async def stop(self, grace: float = 5.0) -> None:
        """Send what is queued (up to `grace` seconds), then close the listener."""
        if not self._tasks:
            return
        sender = self._tasks[0]
        self._outbox.put_nowait(None)  # the slot kept free for it by OUTBOX_LIMIT + 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(sender), grace)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # ---------------------------------------------------------------- out

    async def _send_loop(self) -> None:
        while True:
            first = await self._outbox.get()
            batch = [first]
            while not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            events = list(dict.fromkeys(e for e in batch if e is not None))  # drop repeats
            if events:
                await self._send(events)
            if None in batch:
                return

    async def _send(self, events: list[Event]) -> None:
        payloads = encode(self.node_id, events)
        statement = text("SELECT pg_notify(:channel, :payload)")
        try:
            async with self._db.engine.begin() as conn:  # delivered when this commits
                for payload in payloads:
                    await conn.execute(statement, {"channel": self.channel, "payload": payload})
        except Exception as exc:  # the store is down: other nodes miss these events
            self.stats.dropped += len(events)
            log.warning("could not notify other nodes of %d event(s): %s", len(events), exc)
            return
        self.stats.sent += len(payloads)

    # ---------------------------------------------------------------- in

    def _on_notification(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            node, events = decode(payload)
        except ValueError as exc:
            self.stats.malformed += 1
            log.warning("ignoring a malformed notification on %s: %s", self.channel, exc)
            return
        if node == self.node_id:
            self.stats.own_ignored += 1
            return
        self.stats.received += len(events)
        self._deliver(*events)

    async def _listen_loop(self) -> None:
        delay = self._reconnect_initial
        while True:
            try:
                conn = await asyncpg.connect(
                    self._dsn,
                    timeout=self._connect_timeout,
                    server_settings={"application_name": "securemail-events"},
                )
            except Exception as exc:  # the server is down or refusing: try again later
                log.warning("event listener cannot connect (%s); retry in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._reconnect_max)
                continue
            try:
                await self._hold(conn)
                delay = self._reconnect_initial  # it was up: the next attempt is at once
            except Exception as exc:
                log.warning("event listener connection lost: %s", exc)
            finally:
                self._listener = None
                self.listening.clear()
                await self._close(conn)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._reconnect_max)

    async def _hold(self, conn: asyncpg.Connection) -> None:
        """LISTEN on `conn` and keep it until it drops (returns) or a ping fails (raises)."""
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(self.channel, self._on_notification)
        self._listener = conn
        self.stats.connects += 1
        self.listening.set()
        log.info("listening for other nodes' events on %s", self.channel)
        while not lost.is_set():
            try:
                await asyncio.wait_for(lost.wait(), self._ping_seconds)
            except TimeoutError:  # quiet: make sure the connection is still there
                await conn.execute("SELECT 1", timeout=self._ping_seconds)
        log.warning("event listener connection closed by the server; reconnecting")

    @staticmethod
    async def _close(conn: asyncpg.Connection) -> None:
        if conn.is_closed():
            return
        try:
            await asyncio.wait_for(conn.close(), 2)
        except asyncio.CancelledError:
            conn.terminate()
            raise
        except Exception:  # slow or broken: just drop it
            conn.terminate()
