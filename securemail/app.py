"""Composition root: settings -> database -> services -> listeners and web."""

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass

import uvicorn

from securemail.config import Settings
from securemail.security.passwords import PasswordHasher
from securemail.services.base import Deps
from securemail.services.events import EventBus
from securemail.services.registry import Services
from securemail.store.blobs import BlobStore, DatabaseBlobStore, FilesystemBlobStore
from securemail.store.db import Database
from securemail.store.migrate import upgrade
from securemail.web.app import create_app

log = logging.getLogger("securemail")


@dataclass
class Runtime:
    settings: Settings
    db: Database
    services: Services

    async def close(self) -> None:
        await self.db.dispose()


def make_blob_store(settings: Settings) -> BlobStore:
    kind = settings.database.blob_store
    if kind == "database":
        return DatabaseBlobStore()
    if kind == "filesystem":
        return FilesystemBlobStore(settings.data_path / "blobs")
    raise ValueError(f"[database] blob_store must be 'filesystem' or 'database', not {kind!r}")


def build(settings: Settings) -> Runtime:
    """Wire everything from settings; opens no socket and touches no table yet."""
    db = Database(
        settings.database_url, settings.database.busy_timeout_ms, settings.database.schema or None
    )
    auth = settings.auth
    hasher = PasswordHasher(auth.argon2_time_cost, auth.argon2_memory_kib, auth.argon2_parallelism)
    deps = Deps(
        db=db,
        blobs=make_blob_store(settings),
        events=EventBus(),
        hasher=hasher,
        settings=settings,
    )
    return Runtime(settings=settings, db=db, services=Services.build(deps))


async def serve(settings: Settings) -> None:
    """Apply migrations, then serve until SIGINT or SIGTERM."""
    runtime = build(settings)
    await upgrade(runtime.db)
    config = uvicorn.Config(
        create_app(runtime.services),
        host=settings.http.bind,
        port=settings.http.port,
        log_level="info",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    web = asyncio.create_task(server.serve())
    log.info("securemail serving HTTP on http://%s:%d", settings.http.bind, settings.http.port)
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait({web, waiter}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    await web
    waiter.cancel()
    await runtime.close()
