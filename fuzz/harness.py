"""What every fuzz target shares: the Harness, the crash Recorder and the seed corpus."""

from __future__ import annotations

import hashlib
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

FUZZ_DIR = Path(__file__).resolve().parent
CORPUS_DIR = FUZZ_DIR / "corpus"
CRASH_DIR = FUZZ_DIR / "crashes"
WORK_DIR = FUZZ_DIR / "work"

T = TypeVar("T")


def tolerate(
    errors: tuple[type[BaseException], ...], call: Callable[..., T], *args: object
) -> T | None:
    """call(*args), or None when it raises one of its documented `errors`."""
    try:
        return call(*args)
    except errors:
        return None


@dataclass(frozen=True)
class Harness:
    """A target: `check` takes any bytes; raising one of `expected` is fine, anything else
    (an AssertionError from a property check included) is a crash."""

    name: str
    check: Callable[[bytes], None]
    expected: tuple[type[BaseException], ...]
    tokens: tuple[bytes, ...] = ()  # dictionary words the random mutator splices in

    def run(self, data: bytes) -> tuple[str, Exception | None]:
        """(outcome, crash): the outcome names the documented error raised ("ok" if none), a
        cheap stand-in for coverage; crash is the exception that escaped, or None."""
        try:
            self.check(data)
        except self.expected as exc:
            return f"{type(exc).__name__}:{str(exc)[:24]}", None
        except Exception as exc:
            return "crash", exc
        return "ok", None

    def seeds(self) -> list[bytes]:
        """The seed corpus in fuzz/corpus/<name>/, sorted by file name."""
        folder = CORPUS_DIR / self.name
        return [p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()]


def signature(exc: BaseException) -> str:
    """Where a crash happened: exception type and the innermost frame, to group repeats."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    return f"{type(exc).__name__} at {where}"


@dataclass
class Recorder:
    """Feeds inputs to a harness, counts them, and saves one input per distinct crash."""

    harness: Harness
    out_dir: Path | None = None  # None: keep crashes in memory only (the CI smoke test)
    executed: int = 0
    crashing_inputs: int = 0
    crashes: dict[str, bytes] = field(default_factory=dict)  # signature -> first input

    def feed(self, data: bytes) -> str:
        """Run one input; returns its outcome ("crash" for a crash, which is recorded)."""
        self.executed += 1
        outcome, exc = self.harness.run(data)
        if exc is not None:
            self.crashing_inputs += 1
            self._record(data, exc)
        return outcome

    def _record(self, data: bytes, exc: Exception) -> None:
        key = signature(exc)
        if key in self.crashes:
            return
        self.crashes[key] = data
        if self.out_dir is None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        name = "crash-" + hashlib.sha1(data).hexdigest()[:16]  # noqa: S324 - a file name
        (self.out_dir / name).write_bytes(data)
        trace = "".join(traceback.format_exception(exc))
        (self.out_dir / (name + ".txt")).write_text(f"{key}\n\n{trace}", encoding="utf-8")
