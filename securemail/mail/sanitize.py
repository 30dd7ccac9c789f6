"""Sanitise the HTML body of a mail for display: nh3 allow-lists plus our URL and CSS rules."""

import functools
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html import escape as html_escape
from html import unescape as html_unescape
from typing import Any

import nh3

TAGS = frozenset(
    {"a", "abbr", "address", "b", "big", "blockquote", "br", "caption", "center", "cite", "code",
     "col", "colgroup", "dd", "del", "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5",
     "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp",
     "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th",
     "thead", "tr", "tt", "u", "ul", "wbr"}
)  # fmt: skip

# Removed together with everything inside them: their content is code, or is parsed as raw text
# by browsers (mutation-XSS material), or is another document.
CLEAN_CONTENT_TAGS = frozenset(
    {"applet", "embed", "frame", "frameset", "head", "iframe", "math", "noembed", "noframes",
     "noscript", "object", "plaintext", "script", "select", "style", "svg", "template",
     "textarea", "title", "xmp"}
)  # fmt: skip

_GENERIC_ATTRIBUTES = frozenset(
    {"align", "bgcolor", "dir", "height", "lang", "style", "title", "valign", "width"}
)
ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "*": _GENERIC_ATTRIBUTES,
    "a": frozenset({"href"}),
    "img": frozenset({"alt", "border", "hspace", "src", "srcset", "vspace"}),
    "table": frozenset({"background", "border", "cellpadding", "cellspacing", "summary"}),
    "td": frozenset({"background", "colspan", "nowrap", "rowspan"}),
    "th": frozenset({"background", "colspan", "nowrap", "rowspan", "scope"}),
    "tr": frozenset({"background"}),
    "font": frozenset({"color", "face", "size"}),
    "ol": frozenset({"start", "type"}),
    "ul": frozenset({"type"}),
    "li": frozenset({"value"}),
    "hr": frozenset({"noshade", "size"}),
    "col": frozenset({"span"}),
    "colgroup": frozenset({"span"}),
}

# CSS properties that cannot take a url() and cannot move content outside its box.
STYLE_PROPERTIES = frozenset(
    {"background-color", "border", "border-bottom", "border-bottom-color", "border-bottom-style",
     "border-bottom-width", "border-collapse", "border-color", "border-left", "border-left-color",
     "border-left-style", "border-left-width", "border-radius", "border-right",
     "border-right-color", "border-right-style", "border-right-width", "border-spacing",
     "border-style", "border-top", "border-top-color", "border-top-style", "border-top-width",
     "border-width", "color", "direction", "display", "font", "font-family", "font-size",
     "font-style", "font-variant", "font-weight", "height", "letter-spacing", "line-height",
     "list-style-type", "margin", "margin-bottom", "margin-left", "margin-right", "margin-top",
     "max-height", "max-width", "min-height", "min-width", "padding", "padding-bottom",
     "padding-left", "padding-right", "padding-top", "table-layout", "text-align",
     "text-decoration", "text-indent", "text-transform", "vertical-align", "white-space",
     "width", "word-spacing"}
)  # fmt: skip

URL_SCHEMES = frozenset({"http", "https", "mailto", "cid"})
LINK_REL = "noopener noreferrer nofollow"
_CSS_FUNCTIONS = frozenset({"rgb", "rgba", "hsl", "hsla", "calc"})
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")
_CSS_COMMENT = re.compile(r"/\*.*?(\*/|$)", re.DOTALL)
_CSS_FUNCTION = re.compile(r"([a-z0-9_\-]*)\s*\(")
_CSS_REMOTE = re.compile(r"(url|image-set|image)\(\s*['\"]?\s*(https?:|//)")
# A number with an `e` unit that is not an exponent: nh3 re-writes it as a CSS escape (`1\65 `),
# which our own rules would then refuse: refused at once, sanitising stays idempotent.
_E_UNIT = re.compile(r"\d[eE](?:-\D|-$|\+\D|\+$|[^\w+\-]|$)")
_SCRIPT_WORDS = ("javascript:", "vbscript:", "livescript:", "expression(")
_INVISIBLE = re.compile(r"[\x00-\x20\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")
# Control characters and U+FFFD (what a NUL becomes) in a CSS value: nh3 re-serialises such a
# value differently (`1\x00calc(...)` came out as `1\ufffdcalc (`), so it is refused.
_CSS_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ufffd]")


def _has_style_filter() -> bool:
    """True when the installed nh3 can filter CSS properties; older ones cannot."""
    signature = getattr(nh3.clean, "__text_signature__", None) or ""
    return "filter_style_properties" in signature


HAS_STYLE_FILTER = _has_style_filter()


def _normalise(value: str) -> str:
    """Lower case without whitespace and invisible characters, as a browser reads a URL."""
    return _INVISIBLE.sub("", value).lower()


def _absolute(url: str) -> str | None:
    """A protocol-relative URL (`//host/path`) made https, or None when the result is not a URL
    nh3 itself keeps (`//` alone, `//a b`): nh3 checks the value before our filter rewrites it,
    so a second pass would drop what the first one kept."""
    absolute = "https:" + url.strip()
    probe = nh3.clean(
        f'<a href="{html_escape(absolute, quote=True)}"></a>',
        tags={"a"},
        attributes={"a": {"href"}},
        url_schemes=URL_SCHEMES,
        link_rel=None,
    )
    return absolute if "href=" in probe else None


def _safe_target(url: str) -> str | None:
    """A URL produced by the caller's cid_url, kept only if it is absolute http(s) or a path."""
    low = _normalise(url)
    if low.startswith(("http://", "https://")) or (low.startswith("/") and low[1:2] != "/"):
        return url
    return None


@dataclass(slots=True)
class _Filter:
    """The nh3 attribute_filter: decides every URL and style attribute, and counts removals."""

    allow_remote: bool
    cid_url: Callable[[int], str] | None
    cid_index: Mapping[str, int]
    blocked: int = 0
    cids_used: set[int] = field(default_factory=set)

    def __call__(self, tag: str, attr: str, value: str) -> str | None:
        if attr in ("src", "href", "background"):
            return self._url(tag, attr, value)
        if attr == "srcset":
            return self._srcset(value)
        if attr == "style":
            return self._style(value)
        if (":" in value or "(" in value) and any(w in _normalise(value) for w in _SCRIPT_WORDS):
            return None
        return value

    def _cid(self, url: str) -> str | None:
        """RFC 2392: a cid URL names the part whose Content-ID is its %-decoded remainder."""
        content_id = urllib.parse.unquote(url.split(":", 1)[1]).strip().strip("<>").lower()
        index = self.cid_index.get(content_id)
        if index is None:
            return None
        self.cids_used.add(index)
        return None if self.cid_url is None else _safe_target(self.cid_url(index))

    def _url(self, tag: str, attr: str, value: str) -> str | None:
        low = _normalise(value)
        match = _SCHEME.match(low)
        scheme = match.group(1) if match else ""
        if scheme == "cid":
            return self._cid(value)
        remote = scheme in ("http", "https") or (not scheme and low.startswith("//"))
        if tag == "a" and attr == "href":
            if scheme in ("http", "https", "mailto"):
                return value
            return _absolute(value) if remote else None
        if not remote:
            return None  # relative (would hit our own origin), data:, or anything else
        if self.allow_remote:
            return value if scheme else _absolute(value)
        self.blocked += 1
        return None

    def _srcset(self, value: str) -> str | None:
        """Keep a srcset only if remote images are allowed and every candidate is http(s)."""
        urls = [c.split()[0] for c in value.split(",") if c.split()]
        kinds = [_normalise(u) for u in urls]
        remote = [k for k in kinds if k.startswith(("http://", "https://", "//"))]
        if self.allow_remote and urls and all(k.startswith(("http://", "https://")) for k in kinds):
            return value
        if not self.allow_remote:
            self.blocked += len(remote)
        return None

    def _style(self, value: str) -> str | None:
        """Keep declarations of allowed properties whose values cannot fetch or run anything."""
        if not HAS_STYLE_FILTER:
            return None
        kept: list[str] = []
        for declaration in _nh3_style(_CSS_COMMENT.sub("", value)).split(";"):
            name, _, raw = declaration.partition(":")
            name, raw = name.strip().lower(), raw.strip()
            low = _normalise(raw)
            if _CSS_REMOTE.search(low) and not self.allow_remote:
                self.blocked += 1
                continue
            if not raw or name not in STYLE_PROPERTIES or not _safe_css_value(raw, low):
                continue
            kept.append(f"{name}: {raw}")
        return "; ".join(kept) or None


_STYLE_OUT = re.compile(r'style="([^"]*)"')


def _nh3_style(value: str) -> str:
    """_nh3_style_of, cached for short values: mail repeats its styles, and a bounded cache
    (4,096 values of at most 1 KiB) cannot be filled by a hostile message's huge ones."""
    return _cached_style(value) if len(value) <= 1024 else _nh3_style_of(value)


@functools.lru_cache(maxsize=4096)
def _cached_style(value: str) -> str:
    return _nh3_style_of(value)


def _nh3_style_of(value: str) -> str:
    """The declarations as nh3 itself will print them. Our rules judge that text, not the
    input: nh3 re-serialises what it parses (an open string closed, a NUL made U+FFFD), and
    judging the input let a second pass drop what the first kept (found by fuzzing)."""
    probe = nh3.clean(
        f'<p style="{html_escape(value, quote=True)}"></p>',
        tags={"p"},
        attributes={"p": {"style"}},
        filter_style_properties=STYLE_PROPERTIES,
    )
    found = _STYLE_OUT.search(probe)
    return html_unescape(found.group(1)) if found else ""


def _safe_css_value(raw: str, low: str) -> bool:
    """No escapes, no nested syntax, no at-rules, and only colour and calc() functions."""
    if any(c in raw for c in "\\<>{}@&") or any(w in low for w in _SCRIPT_WORDS):
        return False
    if _E_UNIT.search(raw) or _CSS_CONTROL.search(raw) or not _balanced(raw):
        return False
    return all(fn in _CSS_FUNCTIONS for fn in _CSS_FUNCTION.findall(low))


def _balanced(raw: str) -> bool:
    """Every parenthesis closed in order and every string closed, parentheses inside strings
    not counted (CSS Syntax 3 sections 4.3.5, 5.4.9): nh3 and a browser disagree about where a
    declaration with an open `calc(` ends, so it is dropped, not repaired."""
    depth, quote = 0, ""
    for char in raw:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        else:
            depth += (char == "(") - (char == ")")
            if depth < 0:
                return False
    return depth == 0 and not quote


@dataclass(frozen=True, slots=True)
class SanitisedHtml:
    """The safe fragment, how many remote resources were removed, and the cid parts it uses."""

    html: str
    remote_blocked: int
    cids_used: frozenset[int]


def sanitise(
    html: str,
    *,
    allow_remote: bool,
    cid_url: Callable[[int], str] | None = None,
    cid_index: Mapping[str, int] | None = None,
) -> SanitisedHtml:
    """Sanitise `html` and also report which cid-indexed parts it referenced (for `inline`)."""
    index = {k.strip().strip("<>").lower(): v for k, v in (cid_index or {}).items()}
    attr_filter = _Filter(allow_remote=allow_remote, cid_url=cid_url, cid_index=index)
    attributes: dict[str, frozenset[str]] = dict(ATTRIBUTES)
    if not HAS_STYLE_FILTER:
        attributes["*"] = _GENERIC_ATTRIBUTES - {"style"}
    # Lone surrogates (from odd codecs) cannot cross into nh3: make them visible U+FFFD.
    text = html.encode("utf-8", "replace").decode("utf-8")
    options: dict[str, Any] = {}
    if HAS_STYLE_FILTER:
        options["filter_style_properties"] = STYLE_PROPERTIES
    cleaned = nh3.clean(
        text,
        tags=TAGS,
        clean_content_tags=CLEAN_CONTENT_TAGS,
        attributes=attributes,
        attribute_filter=attr_filter,
        strip_comments=True,
        link_rel=LINK_REL,
        url_schemes=URL_SCHEMES,
        set_tag_attribute_values={"a": {"target": "_blank"}},
        **options,
    )
    return SanitisedHtml(cleaned, attr_filter.blocked, frozenset(attr_filter.cids_used))


def sanitise_html(
    html: str,
    *,
    allow_remote: bool,
    cid_url: Callable[[int], str] | None = None,
    cid_index: Mapping[str, int] | None = None,
) -> tuple[str, int]:
    """Mail HTML made safe to display, and how many remote resources were removed.

    `cid_index` maps Content-IDs (RFC 2392, without angle brackets) to part indexes; a `cid:`
    image becomes `cid_url(index)` when both are known, and is removed otherwise. With
    `allow_remote=False` every http, https and protocol-relative image source, srcset candidate,
    background attribute and CSS url() is removed and counted. data: URLs are always removed.
    The result is a fragment for a sandboxed iframe under a strict CSP: the first wall, not the
    only one.
    """
    result = sanitise(html, allow_remote=allow_remote, cid_url=cid_url, cid_index=cid_index)
    return result.html, result.remote_blocked
