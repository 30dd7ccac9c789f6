"""Header-block surgery on raw messages (RFC 5322 section 2.2, 3.6): find, drop and add fields
without re-serialising parsed headers (STACK.md gotcha 4: that can inject CR/LF)."""

import email.policy
import email.utils
from email.parser import BytesHeaderParser

from securemail.core.errors import InvalidInput

MAX_HEADER_BLOCK = 256 * 1024


def split_message(raw: bytes) -> tuple[list[bytes], bytes]:
    """Header fields (each with its folded continuation lines) and the body with its separator."""
    end = raw.find(b"\r\n\r\n")
    head, body = (raw, b"") if end < 0 else (raw[: end + 2], raw[end + 2 :])
    fields: list[bytes] = []
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
    return fields, body


def field_name(field: bytes) -> str:
    return field.split(b":", 1)[0].strip().decode("ascii", "replace").lower()


def remove_fields(raw: bytes, names: set[str]) -> bytes:
    """Drop every field whose name (lower case) is in `names`."""
    fields, body = split_message(raw)
    return b"".join(f for f in fields if field_name(f) not in names) + body


def add_field(raw: bytes, name: str, value: str) -> bytes:
    """Put a new field on top; CR, LF and NUL in the value are refused, never passed on."""
    if any(c in value for c in "\r\n\0") or any(c in name for c in "\r\n\0: "):
        raise InvalidInput("header value contains a line break")
    return f"{name}: {value}\r\n".encode() + raw


def has_field(raw: bytes, name: str) -> bool:
    fields, _body = split_message(raw)
    return any(field_name(f) == name.lower() for f in fields)


def header_addresses(raw: bytes, name: str) -> list[str]:
    """The addr-specs of every `name` field (From, Sender...), lower-case domain.

    Raises InvalidInput when a field is present but cannot be parsed: a check that cannot
    read the header must refuse, not guess.
    """
    if len(raw) > MAX_HEADER_BLOCK and raw.find(b"\r\n\r\n", 0, MAX_HEADER_BLOCK) < 0:
        raise InvalidInput("header block too large")
    try:
        msg = BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
        out: list[str] = []
        for header in msg.get_all(name, []):
            for address in header.addresses:
                if not address.addr_spec or "@" not in address.addr_spec:
                    raise InvalidInput(f"{name}: has an address without a domain")
                out.append(address.addr_spec)
        return out
    except InvalidInput:
        raise
    except Exception as exc:  # the stdlib's parser has bugs of every type (fuzz: UnboundLocalError)
        raise InvalidInput(f"cannot parse the {name}: header") from exc


def new_message_id(domain: str) -> str:
    return email.utils.make_msgid(domain=domain)


def date_now() -> str:
    return email.utils.formatdate(localtime=False, usegmt=True)
