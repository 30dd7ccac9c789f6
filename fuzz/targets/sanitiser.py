"""Fuzz target: the HTML sanitiser: no script, no event handler, no script URL survives, and
sanitising its own output keeps every element, attribute and text as it is."""

from __future__ import annotations

from html.parser import HTMLParser

from fuzz.harness import Harness
from securemail.mail.sanitize import _INVISIBLE, TAGS, sanitise_html

SCRIPT_SCHEMES = ("javascript:", "vbscript:", "livescript:", "data:")
URL_ATTRIBUTES = frozenset({"href", "src", "background", "srcset"})
Element = tuple[str, tuple[tuple[str, str], ...]]


class _Elements(HTMLParser):
    """Tokenises the output as a browser would: start tags with their (unescaped) attributes
    and the text between them (end tags are left out)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[Element | str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, tuple(sorted((k, v or "") for k, v in attrs))))

    handle_startendtag = handle_starttag

    def handle_data(self, data: str) -> None:
        self.found.append(data)


def elements(html: str) -> list[Element | str]:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser.found


def _assert_safe_attribute(name: str, value: str, html: str) -> None:
    assert not name.startswith("on"), (name, html)
    plain = _INVISIBLE.sub("", value).lower()
    if name in URL_ATTRIBUTES:  # the scheme a browser would see, after it drops tabs etc.
        assert not plain.startswith(SCRIPT_SCHEMES), (name, value, html)
    if name == "style":
        assert "javascript:" not in plain and "expression(" not in plain, (value, html)


def assert_safe(html: str) -> list[Element | str]:
    """The sanitised fragment holds no script, handler or script URL; returns its tokens."""
    assert "<script" not in html.lower(), html
    found = elements(html)
    for item in found:
        if isinstance(item, tuple):
            tag, attrs = item
            assert tag in TAGS, (tag, html)
            for name, value in attrs:
                _assert_safe_attribute(name, value, html)
    return found


def check(data: bytes) -> None:
    allow_remote = bool(data[:1]) and data[0] % 2 == 1
    text = data[1:].decode("utf-8", "replace")
    clean, _blocked = sanitise_html(text, allow_remote=allow_remote)
    found = assert_safe(clean)
    again, _blocked = sanitise_html(clean, allow_remote=allow_remote)
    assert _content(elements(again)) == _content(found), (clean, again)


def _content(found: list[Element | str]) -> tuple[set[Element], str]:
    """What a second pass must keep: the kinds of element (tag and attributes) and the text.
    Not the exact string: nh3 may print rel= and target= in either order, and html5ever
    serialises some misnested trees (an <a> fostered out of a <table> inside an <a>) that
    re-parse with other end tags, or with a formatting element such as <b> opened again."""
    tags = {item for item in found if isinstance(item, tuple)}
    text = "".join(item for item in found if isinstance(item, str))
    return tags, text


HARNESS = Harness(
    name="html",
    check=check,
    expected=(),
    tokens=(
        b"<script>",
        b"</script>",
        b"<img src=",
        b" onerror=",
        b"javascript:",
        b"&#106;",
        b"<a href=",
        b"<svg>",
        b"<style>",
        b"style=",
        b"url(",
        b"expression(",
        b"<!--",
        b"-->",
        b"<![CDATA[",
        b"cid:",
        b"//",
        b"\x00",
        b"<math>",
        b"<table background=",
        b'"',
        b"'",
        b">",
        b"&",
        b"<",
        b"\t",
    ),
)
