"""The outbound worker: claim due queue rows, sign them with DKIM, relay them, record what the
remote said, and deliver a DSN to a local sender whose message failed for good."""

import asyncio
import logging
import os
import secrets
import socket
import ssl
from collections.abc import Sequence

from securemail.config import Settings
from securemail.core.context import system_context
from securemail.core.errors import NotFound, SecuremailError
from securemail.mail.dsn import (
    DeliveryStatus,
    FailedRecipient,
    Notification,
    Outcome,
    build_dsn,
    local_status,
)
from securemail.mailauth import dkim_sign
from securemail.net.dns import Resolver
from securemail.relay.client import Relay
from securemail.relay.session import Transaction
from securemail.services.queue import Clock, QueueService, last_status
from securemail.services.registry import Services
from securemail.store.repos.policy import SigningKey
from securemail.store.repos.queue import BOUNCING, QueueItem

log = logging.getLogger("securemail.outbound")

BATCH_SIZE = 20  # rows claimed per round: also the most SMTP sessions one node opens at once
LEASE_SHARE = 0.8  # a job gets this share of the lease before it counts as deferred


def group_jobs(items: Sequence[QueueItem]) -> list[tuple[QueueItem, ...]]:
    """Rows that travel together: one SMTP transaction per (message, recipient domain); one
    DSN per message for rows that owe their sender a bounce."""
    groups: dict[tuple[str, str, str], list[QueueItem]] = {}
    for item in items:
        domain = "" if item.status == BOUNCING else item.domain
        groups.setdefault((item.status, item.message_key, domain), []).append(item)
    return [tuple(group) for group in groups.values()]


async def _wait_any(events: Sequence[asyncio.Event], timeout: float) -> None:
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


class OutboundWorker:
    """One node's worker. Several may share a queue (one per node, or more in tests)."""

    def __init__(
        self,
        services: Services,
        resolver: Resolver,
        settings: Settings,
        *,
        queue: QueueService | None = None,
        clock: Clock | None = None,
        node: str | None = None,
        verify_context: ssl.SSLContext | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.queue = queue or QueueService(services.deps, clock)
        self.delivery = services.delivery
        self.settings = settings
        self.helo = settings.relay.helo_name or settings.server.hostname
        self.relay = Relay(resolver, settings.relay, helo=self.helo, verify_context=verify_context)
        self.owner = node or f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"
        self.batch_size = batch_size
        self.ctx = system_context("relay")
        self.wake = asyncio.Event()  # set it after queueing mail to skip the poll wait

    async def run(self, stop: asyncio.Event) -> None:
        """Work the queue until `stop` is set; rounds every [relay] poll_seconds or on `wake`.

        Cancelling the task mid-round is safe: rows it held are retried once their lease ends.
        """
        while not stop.is_set():
            self.wake.clear()
            try:
                handled = await self.run_once()
            except Exception:
                log.exception("outbound round failed; trying again after the poll interval")
                handled = 0
            if handled < self.batch_size:
                await _wait_any((stop, self.wake), self.settings.relay.poll_seconds)

    async def run_once(self) -> int:
        """Claim due rows, handle them all, and return how many were handled."""
        items = await self.queue.claim(self.ctx, self.owner, self.batch_size)
        jobs = group_jobs(items)
        await asyncio.gather(*(self._job(job) for job in jobs))
        return len(items)

    async def _job(self, job: tuple[QueueItem, ...]) -> None:
        try:
            if job[0].status == BOUNCING:
                await self._notify(job)  # a DSN owed since an earlier round (or a dead node)
            else:
                await self._send(job)
        except Exception:  # the rows stay leased and come back when the lease ends
            log.exception("outbound queue rows %s: not recorded", [i.id for i in job])

    async def _send(self, job: tuple[QueueItem, ...]) -> None:
        deadline = self.settings.relay.lease_seconds * LEASE_SHARE
        try:
            statuses = await asyncio.wait_for(self._attempt(job), deadline)
        except NotFound:
            text = "the message is missing from the store"
            statuses = dict.fromkeys(_rcpts(job), local_status(Outcome.PERMANENT, "5.3.0", text))
        except Exception as exc:
            log.exception("outbound queue rows %s: attempt failed", [i.id for i in job])
            text = f"local error during delivery: {type(exc).__name__}"
            statuses = dict.fromkeys(_rcpts(job), local_status(Outcome.TEMPORARY, "4.3.0", text))
        owed = await self.queue.record(
            self.ctx, self.owner, [(i.id, statuses[i.recipient]) for i in job]
        )
        for group in group_jobs(owed):
            await self._notify(group)

    async def _attempt(self, job: tuple[QueueItem, ...]) -> dict[str, DeliveryStatus]:
        first = job[0]
        prepared = await self.queue.prepare(self.ctx, first)
        raw = await self._sign(prepared.raw, first.sender, prepared.signing_keys)
        txn = Transaction(first.sender, _rcpts(job), raw)
        return await self.relay.deliver(first.domain, txn, tls_required=prepared.tls_required)

    async def _sign(self, raw: bytes, sender: str, keys: dict[str, SigningKey]) -> bytes:
        """DKIM-sign just before sending, with the From: (else sender) domain's key."""
        key = dkim_sign.choose_key(raw, sender, keys)
        if key is None:
            return raw
        return await asyncio.to_thread(dkim_sign.sign, raw, key)

    async def _notify(self, group: tuple[QueueItem, ...]) -> None:
        """Deliver one DSN for these failed rows of one message to its local sender."""
        first = group[0]
        note = Notification(
            reporting_mta=self.helo,
            sender=first.sender,
            recipients=[
                FailedRecipient(i.recipient, last_status(i), i.last_attempt_at) for i in group
            ],
            original=await self.queue.original(self.ctx, first),
            arrival=first.created_at,
            now=self.queue.now(),
        )
        try:
            await self.delivery.deliver(self.ctx, build_dsn(note), [first.sender])
        except SecuremailError as exc:  # store busy: the lease runs out and we try again
            log.warning("DSN to %s not delivered yet: %s", first.sender, exc)
            return
        await self.queue.finish_bounces(self.ctx, self.owner, [i.id for i in group])


def _rcpts(job: tuple[QueueItem, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i.recipient for i in job))
