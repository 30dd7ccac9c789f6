"""Child process for one coverage-guided atheris (libFuzzer) run of one target.

    python -m fuzz.atheris_engine TARGET SECONDS STATS_JSON

Atheris never returns from Fuzz(): libFuzzer exits the process. So the counts go to
STATS_JSON as they change (at most once a second, and on every new crash), and the parent
also reads libFuzzer's own closing "Done N runs" line.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from fuzz.harness import CORPUS_DIR, CRASH_DIR, WORK_DIR, Recorder
from fuzz.registry import load

MAX_LEN = 16384
INPUT_TIMEOUT_S = 10
# Coverage is what guides libFuzzer: our code's branches. Instrumenting the standard library
# too (the email package above all) made the mime target three times slower for little gain.
INSTRUMENTED = ["securemail", "fuzz"]


def available() -> bool:
    """True when atheris can be imported here."""
    try:
        importlib.import_module("atheris")
    except ImportError:
        return False
    return True


class _Stats:
    """Writes the recorder's counts to a JSON file, throttled."""

    def __init__(self, recorder: Recorder, path: Path) -> None:
        self.recorder, self.path = recorder, path
        self.written_at, self.crashes = 0.0, 0

    def maybe_write(self) -> None:
        now = time.monotonic()
        if now - self.written_at < 1 and len(self.recorder.crashes) == self.crashes:
            return
        self.written_at, self.crashes = now, len(self.recorder.crashes)
        counts = {
            "executed": self.recorder.executed,
            "crashing_inputs": self.recorder.crashing_inputs,
            "crashes": sorted(self.recorder.crashes),
        }
        self.path.write_text(json.dumps(counts), encoding="utf-8")


def main(argv: list[str]) -> None:
    name, seconds, stats_path = argv[1], int(argv[2]), Path(argv[3])
    atheris: Any = importlib.import_module("atheris")
    with atheris.instrument_imports(include=INSTRUMENTED):
        harness = load(name)
    recorder = Recorder(harness, CRASH_DIR / name)
    stats = _Stats(recorder, stats_path)
    work = WORK_DIR / name  # libFuzzer adds what it finds here, never to the seed corpus
    work.mkdir(parents=True, exist_ok=True)

    def one_input(data: bytes) -> None:
        recorder.feed(data)
        stats.maybe_write()

    options = [f"-max_total_time={seconds}", f"-max_len={MAX_LEN}",
               f"-timeout={INPUT_TIMEOUT_S}", f"-artifact_prefix={CRASH_DIR / name}/",
               "-print_final_stats=1"]  # fmt: skip
    (CRASH_DIR / name).mkdir(parents=True, exist_ok=True)
    atheris.Setup([argv[0], *options, str(work), str(CORPUS_DIR / name)], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
