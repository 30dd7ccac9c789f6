"""A plain random-mutation fuzzer: the engine when atheris is not installed, and the one the CI
smoke test uses (seeded, so a run is repeatable)."""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fuzz.harness import Recorder

MAX_INPUT = 16384
MAX_CORPUS = 4096
INTERESTING = (b"\x00", b"\xff", b"\x7f", b"\x80", b"\xc2\xb2", b"\xed\xa0\x80", b"0", b"9" * 12,
               b"-1", b"\r\n", b"\n", b"\r", b" ", b"\t")  # fmt: skip


class InputTimeout(Exception):
    """One input ran longer than the per-input limit: a hang is a crash too."""


@dataclass
class Mutator:
    """Mutates byte strings from a corpus, splicing in the harness's dictionary tokens."""

    rng: random.Random
    tokens: tuple[bytes, ...]

    def mutate(self, data: bytes, other: bytes) -> bytes:
        out = bytearray(data)
        for _ in range(self.rng.randint(1, 4)):
            self._step(out, other)
        return bytes(out[:MAX_INPUT])

    def _step(self, out: bytearray, other: bytes) -> None:
        rng, where = self.rng, self.rng.randint(0, len(out))
        kind = rng.randrange(7)
        if kind == 0 and out:
            out[min(where, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif kind == 1:
            out[where:where] = rng.randbytes(rng.randint(1, 8))
        elif kind == 2 and out:
            del out[where : where + rng.randint(1, 16)]
        elif kind == 3 and out:
            start = rng.randrange(len(out))
            out[where:where] = out[start : start + rng.randint(1, 64)]
        elif kind == 4 and other:
            start = rng.randrange(len(other))
            out[where:where] = other[start : start + rng.randint(1, 256)]
        elif kind == 5 and self.tokens:
            out[where:where] = rng.choice(self.tokens)
        else:
            out[where:where] = rng.choice(INTERESTING)


@contextmanager
def input_timeout(seconds: float) -> Iterator[None]:
    """While active, an input (one Recorder.feed) running past `seconds` raises InputTimeout
    inside the target, so a hang is reported as a crash. Needs the main thread; else no-op."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(_signum: int, _frame: object) -> None:
        raise InputTimeout(f"one input ran over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _feed(recorder: Recorder, data: bytes, timeout: float) -> str:
    if not timeout:
        return recorder.feed(data)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return recorder.feed(data)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def run(
    recorder: Recorder,
    *,
    seed: int,
    max_inputs: int | None = None,
    seconds: float | None = None,
    timeout: float = 0,
    seeds: list[bytes] | None = None,
) -> None:
    """Seeds (the harness's corpus unless given) first, then mutants until `max_inputs` or
    `seconds` is reached, whichever comes first. An input whose outcome (which documented
    error, or none) is new joins the corpus."""
    seeds = (recorder.harness.seeds() if seeds is None else seeds) or [b""]
    corpus, seen = list(seeds), set()
    mutator = Mutator(random.Random(seed), recorder.harness.tokens)  # noqa: S311 - not crypto
    deadline = None if seconds is None else time.monotonic() + seconds
    timeout = timeout if threading.current_thread() is threading.main_thread() else 0
    with input_timeout(timeout):
        for data in seeds:
            seen.add(_feed(recorder, data, timeout))
        while not _done(recorder, max_inputs, deadline):
            data = mutator.mutate(mutator.rng.choice(corpus), mutator.rng.choice(corpus))
            outcome = _feed(recorder, data, timeout)
            if outcome not in seen and outcome != "crash" and len(corpus) < MAX_CORPUS:
                seen.add(outcome)
                corpus.append(data)


def _done(recorder: Recorder, max_inputs: int | None, deadline: float | None) -> bool:
    if max_inputs is not None and recorder.executed >= max_inputs:
        return True
    # the clock is read every 64 inputs only: reading it costs as much as a tiny parser's run
    return deadline is not None and recorder.executed % 64 == 0 and time.monotonic() > deadline
