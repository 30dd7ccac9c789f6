"""`securemail keys status|rotate|reseal`: the data keys that seal the store, while it serves."""

import argparse
import sys

from securemail import app
from securemail.cli.migrate_store import Progress
from securemail.config import Settings
from securemail.store.reseal import KeyUsage, index_missing, key_usage, reseal

STATUS_SUMMARY = "show the data keys and what each one seals"
ROTATE_SUMMARY = "add a new data key and seal every blob and secret again under it"
RESEAL_SUMMARY = "seal again what is not under the newest key (finish an interrupted rotate)"
STAGE_SUMMARY = "add a new data key that opens but does not seal yet (copy it to every node)"
ROTATE_DESCRIPTION = """\
Add a new data key to the key file ([security] key_file) and seal every message blob, TOTP
seed and DKIM key again under it, a batch at a time, while the servers keep running: they
re-read the key file within seconds and every older key still opens what it sealed. Run it
again with `keys reseal` if it was interrupted. When each node has its own copy of the file,
run `keys stage` first (a key that opens but does not seal), copy the file to every node,
then `keys rotate` (which makes the staged key the sealing one) and copy it again. Older keys
stay in the file; remove one by hand only when `keys status` shows it seals nothing. The
index key does not rotate (the search index is named by it). Exit status: 0 done, 2 bad
input (keys from a variable)."""


def _print_usage(usage: KeyUsage, current: int, key_ids: list[int]) -> None:
    print(f"data keys: {', '.join(map(str, key_ids))} (key {current} seals new data)")
    for what, counts in (("blobs", usage.blobs), ("secrets", usage.secrets)):
        parts = [
            f"{n} under key {kid}" if kid is not None else f"{n} NOT SEALED"
            for kid, n in sorted(counts.items(), key=lambda item: item[0] or 0)
        ]
        print(f"{what}: {', '.join(parts) if parts else 'none'}")
    print(f"contents missing from the search index: {usage.unindexed}")
    print(f"to seal again under key {current}: {usage.stale(current)}")


async def status(settings: Settings, args: argparse.Namespace) -> int:
    keyring = app.load_keyring(settings)
    db = app.open_database(settings, keyring)
    try:
        usage = await key_usage(db, app.make_blob_store(settings, keyring))
    finally:
        await db.dispose()
    _print_usage(usage, keyring.current_id, keyring.key_ids)
    return 0


async def rotate(settings: Settings, args: argparse.Namespace) -> int:
    keyring = app.load_keyring(settings)
    new_id = keyring.rotate()
    print(f"added data key {new_id} to {keyring.path}; sealing again under it")
    return await reseal_again(settings, args)


async def stage(settings: Settings, args: argparse.Namespace) -> int:
    keyring = app.load_keyring(settings)
    new_id = keyring.rotate(stage=True)
    print(f"added data key {new_id} to {keyring.path}, staged: copy the file to every node,")
    print("then run `securemail keys rotate` to seal under it")
    return 0


async def reseal_again(settings: Settings, args: argparse.Namespace) -> int:
    keyring = app.load_keyring(settings)
    db = app.open_database(settings, keyring)
    blobs = app.make_blob_store(settings, keyring)
    progress = Progress(sys.stderr, f"securemail: sealing under key {keyring.current_id}")
    try:
        done = await reseal(db, blobs, keyring, progress)
        indexed = await index_missing(db, blobs)
        usage = await key_usage(db, blobs)
    finally:
        await db.dispose()
    print(f"sealed again: {done}; indexed: {indexed}")
    _print_usage(usage, keyring.current_id, keyring.key_ids)
    return 0
