"""DNS look-ups for message authentication: name checks and one error type for "try later"."""

import logging
import re
from collections.abc import Awaitable
from typing import TypeVar

from securemail.net.dns import DnsError

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_NAME = 253  # RFC 1035 section 2.3.4, without the trailing dot
MAX_LABEL = 63

# Labels we are willing to send to a resolver: printable ASCII without space, quote or backslash
# (dnspython reads backslash escapes). SPF macros can put a sender's local part in a name.
_LOOKUP_LABEL = re.compile(r"^[!#-\[\]-~]{1,63}$")
# Names we are willing to print in a header (RFC 8601 property values): hostname characters.
_HOST_LABEL = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")


class LookupFailed(Exception):
    """The DNS answered with a temporary error, or not at all: the result is temperror."""


def lookup_name(name: str) -> bool:
    """True when `name` (no trailing dot) has two or more labels a resolver can be asked for."""
    labels = name.split(".")
    return (
        0 < len(name) <= MAX_NAME
        and len(labels) >= 2
        and all(_LOOKUP_LABEL.match(label) for label in labels)
    )


def host_name(name: str) -> bool:
    """True when `name` is a plain multi-label host name, safe to print in a header field."""
    labels = name.split(".")
    return (
        0 < len(name) <= MAX_NAME
        and len(labels) >= 2
        and all(_HOST_LABEL.match(label) for label in labels)
    )


def normalise(domain: str) -> str:
    """Lower case, no trailing dot; U-labels become A-labels (RFC 5890) so they compare."""
    text = domain.strip().rstrip(".").lower()
    if text.isascii():
        return text
    try:
        return text.encode("idna").decode("ascii")
    except UnicodeError:
        return text


async def ask(query: Awaitable[T], what: str) -> T:
    """Await one resolver call; a temporary DNS error, or any surprise, becomes LookupFailed.

    NXDOMAIN and "no records" are answers ([] from the resolver), not errors.
    """
    try:
        return await query
    except DnsError as exc:
        raise LookupFailed(f"{what}: {exc}") from exc
    except Exception as exc:  # a resolver library refusing a hostile name, for example
        log.warning("DNS %s failed unexpectedly: %r", what, exc)
        raise LookupFailed(f"{what}: {exc}") from exc
