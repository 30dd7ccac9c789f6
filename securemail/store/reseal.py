"""What the keyring asks of the store: seal again under the newest key, index what is missing.

Both run while nodes serve. A blob file is replaced by rename (a reader gets the old or the
new file, and every key still opens), a database blob, a TOTP seed or a DKIM key is updated
in a short transaction of its own batch. A node that has not seen the new key yet seals a few
more values under the old one; running `securemail keys reseal` again takes them too.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.mail.parse import parse_fields
from securemail.security.sealing import Keyring, text_key_id
from securemail.store.blobs import BlobStore
from securemail.store.db import Database
from securemail.store.repos.credentials import totp_context
from securemail.store.repos.index import index_content
from securemail.store.repos.policy import dkim_context
from securemail.store.schema import dkim_keys, users
from securemail.store.transfer import referenced_blobs

BATCH = 200
Progress = Callable[[str, int, int], None]


@dataclass
class KeyUsage:
    """How many values each key seals (key None: stored before sealing)."""

    blobs: Counter[int | None] = field(default_factory=Counter)
    secrets: Counter[int | None] = field(default_factory=Counter)
    unindexed: int = 0

    def stale(self, current: int) -> int:
        return sum(n for kid, n in (self.blobs + self.secrets).items() if kid != current)


async def key_usage(db: Database, blobs: BlobStore) -> KeyUsage:
    usage = KeyUsage()
    async with db.read() as conn:
        wanted = list(await referenced_blobs(conn))
        for start in range(0, len(wanted), BATCH):
            found = await blobs.key_ids(conn, wanted[start : start + BATCH])
            usage.blobs.update(found.values())
        for value, _context in await _secrets(conn):
            usage.secrets[text_key_id(value)] += 1
        usage.unindexed = len(await _unindexed(conn, None))
    return usage


async def reseal(
    db: Database, blobs: BlobStore, keyring: Keyring, on: Progress | None = None
) -> int:
    """Seal every blob and secret not under the current key again; how many were."""
    current = keyring.current_id
    async with db.read() as conn:
        wanted = list(await referenced_blobs(conn))
    done = 0
    # Files are replaced by rename outside any transaction: holding SQLite's single writer
    # through a batch of fsyncs would only stall deliveries. Database blobs are rows: a write.
    transaction = db.read if blobs.writes_outside_transaction else db.write
    for start in range(0, len(wanted), BATCH):
        chunk = wanted[start : start + BATCH]
        async with transaction() as conn:
            found = await blobs.key_ids(conn, chunk)
            for blob_id, kid in found.items():
                if kid != current:
                    await blobs.reseal(conn, blob_id)
                    done += 1
        if on is not None:
            on("blobs", start + len(chunk), len(wanted))
    async with db.write() as conn:
        done += await _reseal_secrets(conn, keyring, current)
    return done


async def _secrets(conn: AsyncConnection) -> list[tuple[str, str]]:
    """Every sealed secret with the context it is sealed in."""
    found = [
        (str(r.totp_secret), totp_context(r.id))
        for r in await conn.execute(
            select(users.c.id, users.c.totp_secret).where(users.c.totp_secret.is_not(None))
        )
    ]
    rows = await conn.execute(
        select(dkim_keys.c.domain, dkim_keys.c.selector, dkim_keys.c.private_key)
    )
    found += [(str(r.private_key), dkim_context(r.domain, r.selector)) for r in rows]
    return found


async def _reseal_secrets(conn: AsyncConnection, keyring: Keyring, current: int) -> int:
    done = 0
    for r in await conn.execute(
        select(users.c.id, users.c.totp_secret).where(users.c.totp_secret.is_not(None))
    ):
        if text_key_id(r.totp_secret) != current:
            context = totp_context(r.id)
            value = keyring.seal_text(keyring.open_text(r.totp_secret, context), context)
            await conn.execute(update(users).where(users.c.id == r.id).values(totp_secret=value))
            done += 1
    k = dkim_keys.c
    for key in await conn.execute(select(k.id, k.domain, k.selector, k.private_key)):
        if text_key_id(key.private_key) != current:
            context = dkim_context(key.domain, key.selector)
            value = keyring.seal_text(keyring.open_text(key.private_key, context), context)
            await conn.execute(update(dkim_keys).where(k.id == key.id).values(private_key=value))
            done += 1
    return done


_UNINDEXED = {  # fixed statements; the limit is a bound parameter
    "sqlite": "SELECT id, blob_id FROM contents WHERE id NOT IN "
    "(SELECT rowid FROM content_fts) ORDER BY id LIMIT :n",
    "postgresql": "SELECT id, blob_id FROM contents WHERE id NOT IN "
    "(SELECT content_id FROM content_search) ORDER BY id LIMIT :n",
}


async def _unindexed(conn: AsyncConnection, limit: int | None) -> list[tuple[int, str]]:
    """Contents without a row in the search index (after migration 0010, or an interruption)."""
    params = {"n": -1 if limit is None and conn.dialect.name == "sqlite" else limit}
    rows = await conn.execute(text(_UNINDEXED[conn.dialect.name]), params)
    return [(int(r[0]), str(r[1])) for r in rows]


async def index_missing(db: Database, blobs: BlobStore) -> int:
    """Index every content the index lacks, from its blob, a batch a transaction."""
    done = 0
    while True:
        async with db.write() as conn:
            batch = await _unindexed(conn, BATCH)
            if not batch:
                return done
            raws = await blobs.get_many(conn, [blob_id for _, blob_id in batch])
            for content_id, blob_id in batch:
                raw = raws.get(blob_id, b"")
                await index_content(conn, content_id, parse_fields(raw))
                done += 1
