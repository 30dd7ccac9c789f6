"""Outbound policy rows: TLS-required recipient domains per organisation, DKIM keys per domain."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.security.sealing import Keyring
from securemail.store.repos.common import as_utc, keyring_of, now
from securemail.store.schema import dkim_keys, tls_required_domains

t = tls_required_domains.c
k = dkim_keys.c


@dataclass(frozen=True, slots=True)
class DkimKey:
    """A DKIM key as administrators see it: never the private half."""

    id: int
    org_id: int
    domain: str
    selector: str
    public_key: str  # base64 SubjectPublicKeyInfo, the p= of the DNS record
    active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SigningKey:
    """What the outbound worker signs with (RFC 6376 d=, s= and the key)."""

    domain: str
    selector: str
    private_key: bytes  # PEM


async def add_tls_required(conn: AsyncConnection, org_id: int, domain: str) -> bool:
    """False if the domain was already on the list."""
    if await is_tls_required(conn, org_id, domain):
        return False
    await conn.execute(
        insert(tls_required_domains).values(org_id=org_id, domain=domain, created_at=now())
    )
    return True


async def remove_tls_required(conn: AsyncConnection, org_id: int, domain: str) -> bool:
    result = await conn.execute(
        delete(tls_required_domains).where(t.org_id == org_id, t.domain == domain)
    )
    return bool(result.rowcount)


async def list_tls_required(conn: AsyncConnection, org_id: int) -> list[str]:
    rows = await conn.execute(select(t.domain).where(t.org_id == org_id).order_by(t.domain))
    return [str(r[0]) for r in rows]


async def is_tls_required(conn: AsyncConnection, org_id: int | None, domain: str) -> bool:
    if org_id is None:
        return False
    found = await conn.scalar(select(t.id).where(t.org_id == org_id, t.domain == domain))
    return found is not None


def _key(row: Any) -> DkimKey:
    return DkimKey(
        id=row.id,
        org_id=row.org_id,
        domain=row.domain,
        selector=row.selector,
        public_key=row.public_key,
        active=row.active,
        created_at=as_utc(row.created_at) or now(),
    )


async def find_dkim_key(conn: AsyncConnection, domain: str, selector: str) -> DkimKey | None:
    query = select(dkim_keys).where(k.domain == domain, k.selector == selector)
    found = (await conn.execute(query)).first()
    return _key(found) if found else None


async def install_dkim_key(
    conn: AsyncConnection,
    *,
    org_id: int,
    domain: str,
    selector: str,
    private_key: str,
    public_key: str,
) -> int:
    """The new key becomes the domain's only active one; older rows stay, inactive."""
    await conn.execute(update(dkim_keys).where(k.domain == domain).values(active=False))
    result = await conn.execute(
        insert(dkim_keys).values(
            org_id=org_id,
            domain=domain,
            selector=selector,
            private_key=keyring_of(conn).seal_text(private_key, dkim_context(domain, selector)),
            public_key=public_key,
            active=True,
            created_at=now(),
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def list_dkim_keys(conn: AsyncConnection, org_id: int | None) -> list[DkimKey]:
    query = select(dkim_keys).order_by(k.domain, k.id)
    if org_id is not None:
        query = query.where(k.org_id == org_id)
    return [_key(r) for r in await conn.execute(query)]


async def signing_keys(conn: AsyncConnection, org_id: int | None) -> dict[str, SigningKey]:
    """The active key of each domain of an organisation, by domain."""
    if org_id is None:
        return {}
    query = select(k.domain, k.selector, k.private_key).where(
        k.org_id == org_id, k.active.is_(True)
    )
    keyring = keyring_of(conn)
    return {
        r.domain: SigningKey(r.domain, r.selector, _open_key(keyring, r))
        for r in await conn.execute(query)
    }


def dkim_context(domain: str, selector: str) -> str:
    """The associated data a DKIM private key is sealed with: the row it belongs to."""
    return f"dkim:{domain}:{selector}"


def _open_key(keyring: Keyring, row: Any) -> bytes:
    pem = keyring.open_text(row.private_key, dkim_context(row.domain, row.selector))
    return pem.encode("ascii")
