"""Replay saved inputs through one harness: `python -m fuzz.replay TARGET FILE...`; exit 1 if
any still crashes (the traceback is printed)."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

from fuzz.registry import load


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: python -m fuzz.replay TARGET FILE...", file=sys.stderr)
        return 2
    harness, crashed = load(argv[1]), 0
    for name in argv[2:]:
        outcome, exc = harness.run(Path(name).read_bytes())
        print(f"{name}: {outcome}")
        if exc is not None:
            crashed += 1
            traceback.print_exception(exc)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
