"""Composition root of the store and services: settings -> database -> services. The
listeners, the web server and the workers are put together on top of it in server.py."""

from dataclasses import dataclass
from pathlib import Path

from securemail.config import Settings
from securemail.security.app_passwords import load_or_create_key
from securemail.security.passwords import PasswordHasher
from securemail.security.sealing import Keyring
from securemail.services.base import Deps
from securemail.services.commit import GroupCommitter
from securemail.services.events import EventBus
from securemail.services.registry import Services
from securemail.store.blobs import BlobStore, DatabaseBlobStore, FilesystemBlobStore
from securemail.store.db import Database


@dataclass
class Runtime:
    settings: Settings
    db: Database
    services: Services

    async def close(self) -> None:
        await self.db.dispose()


def key_file(settings: Settings) -> Path:
    configured = settings.security.key_file
    return Path(configured) if configured else settings.data_path / "secrets" / "data.keys"


def load_keyring(settings: Settings) -> Keyring:
    """The data keys: from [security] keys when set, else the key file (made if missing)."""
    if settings.security.keys.strip():
        return Keyring.from_text(settings.security.keys)
    return Keyring.load(key_file(settings))


def open_database(settings: Settings, keyring: Keyring | None = None) -> Database:
    return Database(
        settings.database_url,
        settings.database.busy_timeout_ms,
        settings.database.schema or None,
        keyring or load_keyring(settings),
    )


def make_blob_store(settings: Settings, keyring: Keyring | None = None) -> BlobStore:
    kind = settings.database.blob_store
    keyring = keyring or load_keyring(settings)
    if kind == "database":
        return DatabaseBlobStore(keyring)
    if kind == "filesystem":
        return FilesystemBlobStore(settings.data_path / "blobs", keyring)
    raise ValueError(f"[database] blob_store must be 'filesystem' or 'database', not {kind!r}")


def build(settings: Settings) -> Runtime:
    """Wire everything from settings; opens no socket and touches no table yet."""
    keyring = load_keyring(settings)
    db = open_database(settings, keyring)
    auth = settings.auth
    hasher = PasswordHasher(auth.argon2_time_cost, auth.argon2_memory_kib, auth.argon2_parallelism)
    key_file = settings.auth.app_password_key_file or str(
        settings.data_path / "secrets" / "app-password.key"
    )
    deps = Deps(
        app_password_key=load_or_create_key(Path(key_file)),
        db=db,
        blobs=make_blob_store(settings, keyring),
        events=EventBus(),
        hasher=hasher,
        settings=settings,
        committer=GroupCommitter(db, settings.smtp.group_commit_ms),
    )
    return Runtime(settings=settings, db=db, services=Services.build(deps))
