"""Fuzz target: a raw message through every MIME reader: indexing, webmail rendering, header
checks, and IMAP ENVELOPE, BODYSTRUCTURE and body sections."""

from __future__ import annotations

from fuzz.harness import Harness, tolerate
from securemail.core.errors import InvalidInput, NotFound
from securemail.mail.headers import header_addresses, remove_fields
from securemail.mail.parse import parse_fields
from securemail.mail.render import attachment, render
from securemail.protocols.imap import structure

SECTIONS = (
    "",
    "HEADER",
    "TEXT",
    "1",
    "1.MIME",
    "2.1",
    "1.HEADER",
    "HEADER.FIELDS",
    "HEADER.FIELDS.NOT",
    "1.1.TEXT",
)
FIELDS = ["FROM", "SUBJECT", "CONTENT-TYPE"]


def _index(data: bytes) -> None:
    """parse_fields never raises; its header fields are single clean lines."""
    fields = parse_fields(data)
    lines = (fields.from_addr, fields.to_addrs, fields.subject, fields.message_id)
    assert all(not any(c in f for c in "\r\n\0") for f in lines), fields
    assert "\0" not in fields.text


def _webmail(data: bytes) -> None:
    """render never raises; attachment() raises only NotFound."""
    shown = render(data)
    assert shown.text is None or "\0" not in shown.text
    for index in range(min(len(shown.attachments), 3) + 1):
        tolerate((NotFound,), attachment, data, index)


def _imap(data: bytes) -> None:
    msg = structure.parse(data)
    for extended in (True, False):
        assert structure.bodystructure(msg, extended=extended).startswith(b"(")
    assert structure.envelope(msg).startswith(b"(")
    for spec in SECTIONS:
        structure.section(data, spec, FIELDS)


def check(data: bytes) -> None:
    _index(data)
    _webmail(data)
    _imap(data)
    tolerate((InvalidInput,), header_addresses, data, "From")
    remove_fields(data, {"bcc"})


HARNESS = Harness(
    name="mime",
    check=check,
    expected=(InvalidInput, NotFound),
    tokens=(
        b"\r\n",
        b"\r\n\r\n",
        b"Content-Type: multipart/mixed; boundary=b\r\n",
        b"--b\r\n",
        b"--b--\r\n",
        b"Content-Type: message/rfc822\r\n",
        b"Content-Transfer-Encoding: ",
        b"base64",
        b"quoted-printable",
        b"charset=",
        b"=?utf-8?q?",
        b"?=",
        b"=?x?b?",
        b"Content-Disposition: attachment; filename*=",
        b"Content-ID: <a>\r\n",
        b"text/html",
        b"From: ",
        b"Date: ",
        b"\t",
        b";",
        b'"',
    ),
)
