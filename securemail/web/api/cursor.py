"""Opaque pagination cursors: base64url of a tiny JSON object; anything else is a 400."""

import base64
import binascii
import json
from typing import Annotated

from fastapi import Query

from securemail.core.errors import InvalidInput

MAX_CURSOR = 200  # characters of a cursor we accept
MAX_POSITION = 2**31 - 1
CURSOR_PATTERN = r"^[A-Za-z0-9_-]*$"

Param = Annotated[
    str | None,
    Query(
        alias="cursor",
        max_length=MAX_CURSOR,
        pattern=CURSOR_PATTERN,
        description="the next_cursor of the previous page; omit for the first page",
    ),
]


def encode(kind: str, position: int) -> str:
    data = json.dumps({kind: position}, separators=(",", ":")).encode("ascii")
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def decode(cursor: str | None, kind: str) -> int | None:
    """The position a cursor of `kind` holds; None for no cursor."""
    if not cursor:
        return None
    refusal = InvalidInput("invalid cursor: pass back the next_cursor of an earlier page")
    if len(cursor) > MAX_CURSOR:
        raise refusal
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw.decode("ascii"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise refusal from None
    if not isinstance(data, dict) or set(data) != {kind}:
        raise refusal
    position = data[kind]
    if type(position) is not int or not 0 <= position <= MAX_POSITION:
        raise refusal
    return position
