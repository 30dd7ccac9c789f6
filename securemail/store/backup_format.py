"""The on-disk format of a backup: a manifest, one JSON-lines file per table, blob files."""

import base64
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, LargeBinary, Table

from securemail.core.errors import InvalidInput

FORMAT = "securemail-backup"
VERSION = 1
MANIFEST = "manifest.json"
PARTIAL = ".partial"  # suffix of a backup still being written (or interrupted)
SEARCH_FILE = "tables/search_index.jsonl"  # SQLite's full-text rows, when the source had them
KEY_FILE = "secrets/app-password.key"  # the app-password HMAC key, when it was readable
SEARCH_COLUMNS = ("id", "subject", "from_addr", "to_addrs", "body")


def table_file(name: str) -> str:
    return f"tables/{name}.jsonl"


def blob_id_ok(blob_id: str) -> bool:
    """A SHA-256 hex digest, so it is safe as a file name."""
    return len(blob_id) == 64 and all(c in "0123456789abcdef" for c in blob_id)


def blob_path(root: Path, blob_id: str) -> Path:
    """Blobs as the filesystem store lays them out, two levels of fan-out."""
    return root / "blobs" / blob_id[:2] / blob_id[2:4] / blob_id


def encode_row(table: Table | None, row: Mapping[str, Any]) -> str:
    """One JSON line: datetimes as ISO 8601 in UTC, bytes as base64, the rest as JSON has it.
    The schema says which column is which, so the line needs no type tags."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if isinstance(value, datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=UTC)
            out[name] = aware.astimezone(UTC).isoformat()
        elif isinstance(value, bytes | memoryview):
            out[name] = base64.b64encode(bytes(value)).decode("ascii")
        else:
            out[name] = value
    return json.dumps(out, ensure_ascii=True, separators=(",", ":"), sort_keys=True) + "\n"


def decode_row(table: Table | None, line: str, where: str) -> dict[str, Any]:
    """The row of one JSON line, typed by the table's columns; InvalidInput when unreadable."""
    try:
        row = json.loads(line)
    except ValueError:
        raise InvalidInput(f"{where} is damaged: a line is not valid JSON") from None
    if not isinstance(row, dict):
        raise InvalidInput(f"{where} is damaged: a line is not a row")
    if table is None:
        return row
    for name, value in row.items():
        column = table.columns.get(name)
        if column is None:
            raise InvalidInput(f"{where} has a column {name!r} this version does not know")
        if value is None:
            continue
        if isinstance(column.type, DateTime):
            row[name] = datetime.fromisoformat(value)
        elif isinstance(column.type, LargeBinary):
            row[name] = base64.b64decode(value)
    return row


def read_rows(path: Path, table: Table | None) -> Iterator[dict[str, Any]]:
    where = path.name
    with path.open(encoding="ascii") as fh:
        for line in fh:
            yield decode_row(table, line, where)


def file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for _ in fh)


@dataclass(frozen=True)
class Manifest:
    """What a backup holds; `files` maps a relative path to its SHA-256 and row count."""

    created_at: str
    source_dialect: str
    alembic_revision: str
    files: dict[str, dict[str, Any]]
    blob_count: int
    blob_bytes: int
    audit_head: dict[str, Any]
    version: int = VERSION

    def to_json(self) -> str:
        body = {
            "format": FORMAT,
            "format_version": self.version,
            "created_at": self.created_at,
            "source_dialect": self.source_dialect,
            "alembic_revision": self.alembic_revision,
            "files": self.files,
            "blobs": {"count": self.blob_count, "bytes": self.blob_bytes},
            "audit_head": self.audit_head,
        }
        return json.dumps(body, indent=2, sort_keys=True) + "\n"


def load_manifest(root: Path) -> Manifest:
    """The manifest of a backup directory, or InvalidInput naming what is wrong with it."""
    path = root / MANIFEST
    if not path.is_file():
        raise InvalidInput(f"{root} has no {MANIFEST}: it is not a complete backup")
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        if body.get("format") != FORMAT:
            raise InvalidInput(f"{path} is not a securemail backup manifest")
        if body.get("format_version") != VERSION:
            raise InvalidInput(
                f"{path}: unknown backup format version {body.get('format_version')!r} "
                f"(this securemail reads version {VERSION})"
            )
        return Manifest(
            created_at=str(body["created_at"]),
            source_dialect=str(body["source_dialect"]),
            alembic_revision=str(body["alembic_revision"]),
            files={str(k): dict(v) for k, v in body["files"].items()},
            blob_count=int(body["blobs"]["count"]),
            blob_bytes=int(body["blobs"]["bytes"]),
            audit_head=dict(body["audit_head"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        raise InvalidInput(f"{path} is damaged: not a complete manifest") from None
