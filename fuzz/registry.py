"""The fuzz targets by name; each module is imported only when asked for (so atheris can
instrument it and the code it calls)."""

from __future__ import annotations

import importlib

from fuzz.harness import Harness

MODULES = {
    "smtp": "fuzz.targets.smtp",
    "pop3": "fuzz.targets.pop3",
    "imap": "fuzz.targets.imap",
    "sasl": "fuzz.targets.sasl",
    "proxy": "fuzz.targets.proxy",
    "mime": "fuzz.targets.mime",
    "html": "fuzz.targets.sanitiser",
}
TARGETS = tuple(MODULES)


def load(name: str) -> Harness:
    """The Harness of target `name` (one of TARGETS)."""
    if name not in TARGETS:
        raise KeyError(f"unknown fuzz target {name!r}; choose from {', '.join(TARGETS)}")
    harness = importlib.import_module(MODULES[name]).HARNESS
    assert isinstance(harness, Harness)
    return harness
