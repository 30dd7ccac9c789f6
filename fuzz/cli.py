"""`scripts/fuzz`: run every fuzz target (or one) for N minutes each and report the counts."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass

from fuzz import atheris_engine, mutate
from fuzz.harness import CRASH_DIR, WORK_DIR, Recorder
from fuzz.registry import TARGETS, load

_DONE = re.compile(r"Done (\d+) runs in")
_STAT = re.compile(r"stat::number_of_executed_units:\s*(\d+)")
_PROGRESS = re.compile(r"^#(\d+)\s", re.M)  # libFuzzer's progress lines: "#65536  pulse ..."
# The last words of a run stopped by SIGINT: libFuzzer's (exit status 72) or atheris's (130),
# whichever handler the signal met.
INTERRUPTED = ("libFuzzer: run interrupted", "KeyboardInterrupt: stopping")


@dataclass(frozen=True)
class Result:
    target: str
    engine: str
    executed: int
    seconds: float
    crashes: int  # distinct crashes (by exception type and place) found in this run
    notes: str = ""

    @property
    def rate(self) -> float:
        return self.executed / self.seconds if self.seconds else 0.0


def _atheris(target: str, seconds: int) -> Result:
    """One target in an atheris child; counts from its stats file and libFuzzer's last words."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    stats_path, log_path = WORK_DIR / f"{target}.stats.json", WORK_DIR / f"{target}.log"
    stats_path.unlink(missing_ok=True)
    started = time.monotonic()
    with log_path.open("wb") as log:
        command = [sys.executable, "-m", "fuzz.atheris_engine", target, str(seconds)]
        child = subprocess.Popen([*command, str(stats_path)], stdout=log, stderr=log)  # noqa: S603
        returncode = _wait(child)
    elapsed = time.monotonic() - started
    stats = json.loads(stats_path.read_text("utf-8")) if stats_path.exists() else {}
    text = log_path.read_text("utf-8", "replace")
    counted = [int(n) for n in _DONE.findall(text) + _STAT.findall(text) + _PROGRESS.findall(text)]
    executed = max([stats.get("executed", 0), *counted])
    crashes = len(stats.get("crashes", []))
    notes = ""
    if returncode != 0 and any(words in text for words in INTERRUPTED) and not crashes:
        notes = f"interrupted (Ctrl-C or SIGINT) before its {seconds} s, no crash; see {log_path}"
    elif returncode != 0:  # libFuzzer stopped early: a timeout, out of memory, a deadly signal
        crashes, notes = crashes + 1, f"libFuzzer exit {returncode}, see {log_path}"
    return Result(target, "atheris", executed, elapsed, crashes, notes)


def _wait(child: subprocess.Popen[bytes]) -> int:
    """The child's exit status. A Ctrl-C reaches the child too: libFuzzer then writes its
    final statistics and exits, and this run reports them instead of dying first."""
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:
            continue


def _mutate(target: str, seconds: int, seed: int) -> Result:
    recorder = Recorder(load(target), CRASH_DIR / target)
    started = time.monotonic()
    mutate.run(recorder, seed=seed, seconds=seconds, timeout=10)
    elapsed = time.monotonic() - started
    return Result(target, "mutate", recorder.executed, elapsed, len(recorder.crashes))


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/fuzz", description=__doc__)
    parser.add_argument("--minutes", type=float, required=True, help="per target")
    parser.add_argument("--target", choices=TARGETS, help="one target (default: all)")
    parser.add_argument("--engine", choices=("auto", "atheris", "mutate"), default="auto",
                        help="auto: atheris when installed, else the random mutator")  # fmt: skip
    parser.add_argument("--seed", type=int, default=1, help="random seed of the mutator")
    return parser.parse_args(argv)


def _line(result: Result) -> str:
    return (f"{result.target:<6} {result.engine:<8} {result.executed:>12,} inputs "
            f"{result.seconds:>7.1f} s {result.rate:>10,.0f} exec/s  crashes: {result.crashes}"
            + (f"  ({result.notes})" if result.notes else ""))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = _arguments(sys.argv[1:] if argv is None else argv)
    engine = args.engine
    if engine == "auto":
        engine = "atheris" if atheris_engine.available() else "mutate"
    elif engine == "atheris" and not atheris_engine.available():
        print("atheris is not installed: pip install atheris, or --engine mutate", file=sys.stderr)
        return 2
    seconds = max(1, round(args.minutes * 60))
    results = []
    for target in [args.target] if args.target else list(TARGETS):
        run = _atheris(target, seconds) if engine == "atheris" else None
        result = run or _mutate(target, seconds, args.seed)
        print(_line(result), flush=True)
        results.append(result)
    crashed = [r.target for r in results if r.crashes]
    if crashed:
        print(f"crashes in: {', '.join(crashed)}; inputs in {CRASH_DIR}/<target>/")
    return 1 if crashed else 0
