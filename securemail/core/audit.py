"""The audit hash chain: each entry's hash covers its fields and the previous entry's hash."""

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class ChainFields:
    """The fields of an audit entry that the hash covers, in a fixed canonical form."""

    id: int
    at: str  # ISO 8601 UTC with microseconds
    actor: str
    org_id: int | None
    action: str
    mailbox: str
    target: str
    detail: str


def entry_hash(prev_hash: str, fields: ChainFields) -> str:
    """SHA-256 over the previous hash and the canonical JSON of the fields."""
    body = json.dumps(
        [
            prev_hash,
            fields.id,
            fields.at,
            fields.actor,
            fields.org_id,
            fields.action,
            fields.mailbox,
            fields.target,
            fields.detail,
        ],
        ensure_ascii=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    reason: str = ""


def verify_chain(entries: Iterable[tuple[ChainFields, str, str]]) -> ChainReport:
    """Check (fields, prev_hash, hash) triples in id order; name the first broken entry."""
    expected_prev = GENESIS_HASH
    checked = 0
    last_id = 0
    for fields, prev_hash, stored_hash in entries:
        if fields.id != last_id + 1:
            return ChainReport(False, checked, fields.id, f"entry {last_id + 1} is missing")
        if prev_hash != expected_prev:
            return ChainReport(False, checked, fields.id, "previous-hash link does not match")
        if entry_hash(prev_hash, fields) != stored_hash:
            return ChainReport(False, checked, fields.id, "content does not match its hash")
        expected_prev = stored_hash
        last_id = fields.id
        checked += 1
    return ChainReport(True, checked)
