"""Organizational Domain (RFC 7489 section 3.2) from the Public Suffix List, loaded once."""

import functools
import importlib.resources
from typing import Protocol, cast

from publicsuffix2 import PublicSuffixList  # type: ignore[import-untyped]


class _SuffixList(Protocol):
    def get_sld(self, domain: str, wildcard: bool = True, strict: bool = False) -> str | None: ...


@functools.cache
def _suffix_list() -> _SuffixList:
    """The list authheaders ships (newer than publicsuffix2's own); theirs if it is missing.

    Parsing it costs about 40 ms, once per process.
    """
    try:
        ref = importlib.resources.files("authheaders").joinpath("public_suffix_list.txt")
        with ref.open("r", encoding="utf-8") as stream:
            return cast(_SuffixList, PublicSuffixList(stream))
    except (ModuleNotFoundError, OSError):
        return cast(_SuffixList, PublicSuffixList())


def load() -> None:
    """Parse the list now (at start-up, or in a worker thread) rather than on first use."""
    _suffix_list()


def loaded() -> bool:
    return _suffix_list.cache_info().currsize > 0


def org_domain(domain: str) -> str:
    """One label below the longest public suffix; the last two labels for an unknown TLD."""
    domain = domain.lower().rstrip(".")
    found = _suffix_list().get_sld(domain, strict=True)
    if found:
        return found
    return ".".join(domain.split(".")[-2:])


def aligned(a: str, b: str, mode: str) -> bool:
    """Identifier alignment (RFC 7489 section 3.1): "s" exact, otherwise same org domain."""
    a, b = a.lower().rstrip("."), b.lower().rstrip(".")
    if not a or not b:
        return False
    if a == b:
        return True
    return mode != "s" and org_domain(a) == org_domain(b)
