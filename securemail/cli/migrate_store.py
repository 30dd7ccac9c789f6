"""`securemail migrate-store`: move an SQLite installation onto PostgreSQL and check the copy."""

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import TextIO

from sqlalchemy.engine import make_url

from securemail import app
from securemail.config import Settings, async_url
from securemail.core.audit import ChainReport
from securemail.core.context import system_context
from securemail.core.errors import InvalidInput
from securemail.store import transfer

CTX = system_context("cli")
SUMMARY = "copy this installation's SQLite store onto an empty PostgreSQL database"
DESCRIPTION = """\
Copy this installation's SQLite store (<data_dir>/securemail.db) onto an empty PostgreSQL
database or schema, then check the copy: row counts of every table, every message's blob
present with its SHA-256, and the audit chain. The source is only read, never changed.

Stop `securemail serve` first: mail accepted while the copy runs would stay behind in
SQLite. (This is not checked: <data_dir>/run/ports.json outlives a killed server.)

The target's schema is created by the migrations; a target that already holds data is
refused and left as it was. Exit status: 0 when the copy checks out, 1 when the check
found a difference (each one is named), 2 for bad input or a non-empty target."""
EPILOG = """\
Afterwards point every node at the target, e.g.
  [database]
  url = "postgresql://securemail@db.example/securemail"
  schema = "securemail"        # when --schema was given
  blob_store = "database"      # when --blobs database (the default)"""


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--to", required=True, metavar="URL", help="the target, postgresql://user[:pw]@host/db"
    )
    parser.add_argument(
        "--schema", metavar="NAME", help="PostgreSQL schema to fill (created if missing)"
    )
    parser.add_argument(
        "--blobs",
        choices=("database", "filesystem"),
        default="database",
        help="where raw messages live afterwards: in PostgreSQL (default; for several "
        "nodes) or left in <data_dir>/blobs",
    )
    parser.add_argument(
        "--batch-size", type=_positive, default=1000, metavar="N", help="rows per INSERT"
    )


class Progress:
    """`table: done/total` on stderr, after a heading; one line rewritten on a terminal."""

    def __init__(self, stream: TextIO, heading: str) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.heading: str | None = heading

    def __call__(self, what: str, done: int, total: int) -> None:
        if self.heading is not None:  # once the target is ready: no heading before an error
            self.stream.write(f"{self.heading}\n")
            self.heading = None
        line = f"  {what}: {done}/{total}" + ("" if what == "blobs" else " rows")
        if self.tty:
            end = "\n" if done >= total else ""
            self.stream.write(f"\r{line}{end}")
        else:
            self.stream.write(f"{line}\n")
        self.stream.flush()


def _sqlite_path(settings: Settings) -> Path:
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        raise InvalidInput(
            f"the configured store is {url.get_backend_name()}, not an SQLite file: "
            "migrate-store moves an SQLite installation"
        )
    return Path(url.database)


def _target_settings(settings: Settings, args: argparse.Namespace) -> Settings:
    database = dataclasses.replace(
        settings.database, url=args.to, schema=args.schema or "", blob_store=args.blobs
    )
    return dataclasses.replace(settings, database=database)


async def _verify_chain(settings: Settings) -> ChainReport:
    """The audit chain on the target, checked by the same service as `audit verify`."""
    runtime = app.build(settings)
    try:
        return await runtime.services.audit.verify(CTX)
    finally:
        await runtime.close()


def _plan(settings: Settings, args: argparse.Namespace) -> transfer.Plan:
    if args.blobs == "filesystem" and settings.database.blob_store != "filesystem":
        raise InvalidInput("--blobs filesystem needs the blobs in files ([database] blob_store)")
    target = transfer.postgres_target(async_url(args.to), args.schema)
    return transfer.Plan(
        sqlite_path=_sqlite_path(settings),
        source_blobs=app.make_blob_store(settings),
        target=target,
        blobs_to_database=args.blobs == "database",
        schema=args.schema,
        batch_size=args.batch_size,
    )


async def migrate_store(settings: Settings, args: argparse.Namespace) -> int:
    plan = _plan(settings, args)
    where = transfer.shown(plan.target) + (f" schema {args.schema}" if args.schema else "")
    progress = Progress(sys.stderr, f"securemail: copying {plan.sqlite_path} to {where}")
    try:
        report = await transfer.transfer(plan, progress)
    finally:
        await plan.target.dispose()
    chain = await _verify_chain(_target_settings(settings, args))
    _print_counts(report)
    return _conclude(report, chain, args, where)


def _print_counts(report: transfer.Report) -> None:
    width = max(len(name) for name, _, _ in report.counts)
    print(f"{'TABLE'.ljust(width)}  {'SOURCE':>8}  {'TARGET':>8}")
    for name, before, after in report.counts:
        mark = "" if before == after else "  MISMATCH"
        print(f"{name.ljust(width)}  {before:>8}  {after:>8}{mark}")


def _conclude(
    report: transfer.Report, chain: ChainReport, args: argparse.Namespace, where: str
) -> int:
    store = "blob_data" if args.blobs == "database" else "the filesystem store"
    print(f"blobs: {report.blobs_checked} checked in {store}")
    if chain.ok:
        print(f"audit chain on the target: intact, {chain.checked} entries")
    problems = list(report.problems)
    if not chain.ok:
        problems.append(
            f"audit chain on the target BROKEN at entry {chain.first_bad_id}: {chain.reason} "
            "(run `securemail audit verify` on the source to see whether it was already)"
        )
    if problems:
        for problem in problems:
            print(f"securemail: {problem}", file=sys.stderr)
        print(
            f"securemail: the copy in {where} does NOT match the source ({len(problems)} "
            "problem(s)); do not use it: drop it, fix the cause and run again",
            file=sys.stderr,
        )
        return 1
    print(f"migration verified: {where} holds a checked copy; point every node at it")
    return 0
