"""The `securemail` command: provisioning, migrations, audit checks and `serve`."""

import asyncio
import os
import sys
from collections.abc import Sequence

from securemail.cli.parser import EXIT_BAD_INPUT, build_parser
from securemail.config import ConfigError, Settings, load_settings
from securemail.core.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    TemporaryFailure,
)
from securemail.log import setup_logging
from securemail.memory import limit_malloc_arenas
from securemail.security.sealing import KeyringError

EXIT_TEMPFAIL = 75  # sysexits.h EX_TEMPFAIL
BAD_INPUT = (
    InvalidInput,
    NotFound,
    Conflict,
    PermissionDenied,
    QuotaExceeded,
    AuthenticationFailed,
    ConfigError,
    KeyringError,
)


def _runner(settings: Settings, command: str) -> asyncio.Runner:
    """`serve` on the configured event loop; every other command on plain asyncio."""
    choice = settings.server.event_loop
    if choice not in ("uvloop", "asyncio"):
        raise ConfigError(f'[server] event_loop: expected "uvloop" or "asyncio", got {choice!r}')
    if command == "serve" and choice == "uvloop":
        import uvloop  # a dependency on every platform but Windows

        return asyncio.Runner(loop_factory=uvloop.new_event_loop)
    return asyncio.Runner()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; bad input prints one line and exits 2, never a stack trace."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config or os.environ.get("SECUREMAIL_CONFIG"))
        setup_logging("INFO" if args.command == "serve" else "WARNING")
        if args.command == "serve":  # before any thread starts: SQLite's, the executor's
            limit_malloc_arenas(settings.server.malloc_arenas)
        with _runner(settings, args.command) as runner:
            result: int = runner.run(args.handler(settings, args))
        return result
    except BAD_INPUT as exc:
        print(f"securemail: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except TemporaryFailure as exc:
        print(f"securemail: {exc}", file=sys.stderr)
        return EXIT_TEMPFAIL
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("SECUREMAIL_DEBUG"):
            raise
        first = (str(exc).splitlines() or [""])[0][:200]
        print(f"securemail: internal error: {type(exc).__name__}: {first}", file=sys.stderr)
        return 1
