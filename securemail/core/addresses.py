"""Mail address and domain validation and normalisation (RFC 5321 section 4.1.2, 4.5.3.1)."""

import re
from dataclasses import dataclass

from securemail.core.errors import InvalidInput

MAX_LOCAL_PART = 64  # RFC 5321 section 4.5.3.1.1
MAX_DOMAIN = 255  # RFC 5321 section 4.5.3.1.2
MAX_ADDRESS = 254  # RFC 5321 path limit 256 minus the angle brackets

# Dot-atom local part (RFC 5322 section 3.2.3 atext); quoted local parts are refused on purpose:
# they are legal but never needed for an organisation's own addresses and invite confusion.
_LOCAL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
# A hostname label (RFC 1035 section 2.3.1, relaxed to allow leading digits per RFC 1123).
_LABEL_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


@dataclass(frozen=True, slots=True)
class Address:
    """A validated address; `local` keeps its case for display, comparisons use `key`."""

    local: str
    domain: str

    def __str__(self) -> str:
        return f"{self.local}@{self.domain}"

    @property
    def key(self) -> str:
        """The canonical lower-case form used for lookups and uniqueness."""
        return f"{self.local.lower()}@{self.domain}"


def normalise_domain(text: str) -> str:
    """Return the lower-case domain, or raise InvalidInput saying what is wrong with it."""
    domain = text.strip().rstrip(".").lower()
    if not domain or len(domain) > MAX_DOMAIN:
        raise InvalidInput(f"invalid domain {text!r}: empty or longer than {MAX_DOMAIN}")
    labels = domain.split(".")
    if len(labels) < 2:
        raise InvalidInput(f"invalid domain {text!r}: needs at least two labels")
    for label in labels:
        if not _LABEL_RE.fullmatch(label):
            raise InvalidInput(f"invalid domain {text!r}: bad label {label!r}")
    return domain


def parse_address(text: str) -> Address:
    """Parse `local@domain`; raise InvalidInput with a one-line reason when malformed."""
    raw = text.strip()
    if len(raw) > MAX_ADDRESS:
        raise InvalidInput(f"invalid address: longer than {MAX_ADDRESS} characters")
    if any(c in raw for c in '\r\n\0 <>"(),;:\\[]'):
        raise InvalidInput(f"invalid address {text!r}: forbidden character")
    local, sep, domain = raw.rpartition("@")
    if not sep or not local:
        raise InvalidInput(f"invalid address {text!r}: expected local@domain")
    if len(local) > MAX_LOCAL_PART or not _LOCAL_RE.fullmatch(local):
        raise InvalidInput(f"invalid address {text!r}: bad local part")
    return Address(local=local, domain=normalise_domain(domain))
