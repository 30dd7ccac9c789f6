"""mail.render: what webmail shows of a message, and what it must never show."""

import email
import email.policy
import quopri
import re
from email.message import EmailMessage
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from securemail.core.errors import NotFound
from securemail.mail.render import AttachmentInfo, attachment, render, sanitise_html
from tests.web.hostile_corpus import corpus

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
CORPUS = corpus()
REMOTE_MARK = re.compile(r"\.invalid|127\.0\.0\.1", re.IGNORECASE)
EVENT_IN_TAG = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)


def base_message(subject: str = "Evaluation data") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Dr Jane Smith <jane@university.example>"
    msg["To"] = "GM.ZeroTolerance@polres.example"
    msg["Date"] = "Thu, 26 Nov 2026 09:15:00 +0100"
    msg["Subject"] = subject
    return msg


def cid_url(index: int) -> str:
    return f"/webmail/part/{index}"


def html_of(body: str, **kwargs: object) -> str:
    msg = base_message()
    msg.set_content(body, subtype="html")
    html = render(msg.as_bytes(), **kwargs).html  # type: ignore[arg-type]
    assert html is not None
    return html.removesuffix("\n")  # set_content() ends the body with a newline


class Attributes(HTMLParser):
    """Every (tag, attribute, value) of an HTML fragment, as a browser would read it."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str, str]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.extend((tag, name, value or "") for name, value in attrs)


# --- headers and bodies -------------------------------------------------------------------------


def test_plain_message_shows_its_headers_in_order_and_its_text() -> None:
    msg = base_message("Évaluation — données")
    msg["Cc"] = "Bob <bob@polres.example>"
    msg.set_content("Could you share the data?\n")
    shown = render(msg.as_bytes())
    assert shown.headers == (
        ("From", "Dr Jane Smith <jane@university.example>"),
        ("To", "GM.ZeroTolerance@polres.example"),
        ("Cc", "Bob <bob@polres.example>"),
        ("Date", "Thu, 26 Nov 2026 09:15:00 +0100"),
        ("Subject", "Évaluation — données"),
    )
    assert shown.text == "Could you share the data?\n"
    assert shown.html is None
    assert shown.attachments == ()
    assert shown.remote_blocked == 0


def test_only_present_headers_are_listed() -> None:
    raw = b"From: a@x.example\r\nSubject: hi\r\n\r\nbody\r\n"
    assert render(raw).headers == (("From", "a@x.example"), ("Subject", "hi"))


def test_encoded_words_and_raw_utf8_headers_are_decoded() -> None:
    raw = (
        "From: =?iso-8859-1?q?J=F6rg?= <j@x.example>\r\n"
        "Subject: =?utf-8?b?w4l0w6k=?= =?utf-8?q?_r=C3=A9sum=C3=A9?= ok\r\n"
        "To: Zoë <z@x.example>\r\n\r\nbody"
    ).encode()
    headers = dict(render(raw).headers)
    assert headers["From"] == "Jörg <j@x.example>"
    assert headers["Subject"] == "Été résumé ok"
    assert headers["To"] == "Zoë <z@x.example>"


def test_header_tricks_stay_on_one_visible_line() -> None:
    raw = (
        b"From: a@x.example\r\nFrom: Bank <admin@bank.example>\r\n"
        b"Subject: =?utf-8?q?hi=0D=0ABcc=3A_x=40evil=2Eexample=E2=80=AE?=\r\n\r\nx"
    )
    headers = dict(render(raw).headers)
    assert headers["From"] == "a@x.example, Bank <admin@bank.example>"  # both forgers visible
    assert headers["Subject"] == "hi Bcc: x@evil.example"
    assert not any(c in headers["Subject"] for c in "\r\n\u202e")


def test_an_encoded_display_name_cannot_pose_as_an_address() -> None:
    raw = b"From: =?utf-8?q?boss=40corp=2Eexample?= <x@evil.example>\r\n\r\nx"
    assert dict(render(raw).headers)["From"] == '"boss@corp.example" <x@evil.example>'


def test_alternative_prefers_html_and_keeps_the_text() -> None:
    msg = base_message()
    msg.set_content("plain version")
    msg.add_alternative("<p>rich <b>version</b></p>", subtype="html")
    shown = render(msg.as_bytes())
    assert shown.text == "plain version\n"
    assert shown.html is not None and "<p>rich <b>version</b></p>" in shown.html
    assert shown.attachments == ()


def test_mixed_first_text_part_is_the_body_the_rest_are_attachments() -> None:
    msg = base_message()
    msg.set_content("see the report")
    msg.add_attachment("second text", filename="notes.txt")
    msg.add_attachment(b"%PDF-1.7", maintype="application", subtype="pdf", filename="r.pdf")
    shown = render(msg.as_bytes())
    assert shown.text == "see the report\n"
    assert [(a.index, a.filename, a.content_type) for a in shown.attachments] == [
        (1, "notes.txt", "text/plain"),
        (2, "r.pdf", "application/pdf"),
    ]
    assert shown.attachments[1].size == len(b"%PDF-1.7")
    assert not shown.attachments[1].inline


def related_message() -> EmailMessage:
    msg = base_message()
    msg.set_content("text")
    msg.add_alternative('<p>logo: <img src="cid:logo.1@x.example" alt="logo"></p>', "html")
    html_part = msg.get_payload()[1]  # type: ignore[index]
    html_part.add_related(PNG, "image", "png", cid="<logo.1@x.example>")
    msg.add_attachment(b"data", maintype="application", subtype="octet-stream", filename="d.bin")
    return msg


def test_related_cid_image_is_rewritten_and_listed_inline() -> None:
    shown = render(related_message().as_bytes(), cid_url=cid_url)
    image = next(a for a in shown.attachments if a.content_type == "image/png")
    assert image.content_id == "logo.1@x.example"
    assert image.inline and image.size == len(PNG)
    assert shown.html is not None
    assert f'<img src="{cid_url(image.index)}" alt="logo">' in shown.html
    other = next(a for a in shown.attachments if a.filename == "d.bin")
    assert not other.inline


def test_cid_image_without_cid_url_is_removed_but_still_inline() -> None:
    shown = render(related_message().as_bytes())
    assert shown.html is not None and "cid:" not in shown.html and "src=" not in shown.html
    assert any(a.inline for a in shown.attachments if a.content_type == "image/png")


def test_unknown_cid_is_removed() -> None:
    html = html_of('<img src="cid:nobody@x">', cid_url=cid_url)
    assert "src" not in html


def test_attachment_returns_the_decoded_bytes_and_the_same_info() -> None:
    raw = related_message().as_bytes()
    listed = {a.index: a for a in render(raw).attachments}
    for index, info in listed.items():
        got, data = attachment(raw, index)
        assert got == info
        assert len(data) == info.size
    image = next(a for a in listed.values() if a.content_type == "image/png")
    assert attachment(raw, image.index)[1] == PNG


@pytest.mark.parametrize("index", [-1, 99])
def test_attachment_with_no_such_index_is_not_found(index: int) -> None:
    with pytest.raises(NotFound):
        attachment(related_message().as_bytes(), index)


def test_forwarded_message_is_an_eml_attachment_named_after_its_subject() -> None:
    inner = base_message("Quarterly figures")
    inner.set_content("inner body")
    msg = base_message()
    msg.set_content("forwarding")
    msg.add_attachment(inner)
    raw = msg.as_bytes()
    shown = render(raw)
    assert shown.text == "forwarding\n"
    (info,) = shown.attachments
    assert (info.filename, info.content_type) == ("Quarterly figures.eml", "message/rfc822")
    _, data = attachment(raw, info.index)
    assert len(data) == info.size
    again = email.message_from_bytes(data, policy=email.policy.default)
    assert again["Subject"] == "Quarterly figures"


# --- attachment names and types -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("Prüfbericht 2026.pdf", "Prüfbericht 2026.pdf"),  # RFC 2231 encoded by the stdlib
        ("../../etc/passwd", "_.._etc_passwd"),
        ("..\\..\\evil.exe", "_.._evil.exe"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),
        ("", "attachment-1"),
        ("..", "attachment-1"),
    ],
)
def test_filenames_are_decoded_and_made_safe(filename: str, expected: str) -> None:
    msg = base_message()
    msg.set_content("body")
    msg.add_attachment(b"x", maintype="application", subtype="octet-stream", filename=filename)
    (info,) = render(msg.as_bytes()).attachments
    assert info.filename == expected


def test_encoded_word_filename_is_decoded_then_made_safe() -> None:
    raw = (
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
        b"Content-Type: text/plain\r\n\r\nbody\r\n--B\r\n"
        b'Content-Disposition: attachment; filename="=?utf-8?b?Li4vLi4vZXZpbC5zaA==?="\r\n\r\n'
        b"x\r\n--B--\r\n"
    )
    (info,) = render(raw).attachments
    assert info.filename == "_.._evil.sh"


def test_a_very_long_filename_keeps_its_extension() -> None:
    msg = base_message()
    msg.set_content("body")
    msg.add_attachment(
        b"x", maintype="application", subtype="x-msdownload", filename="A" * 5000 + ".exe"
    )
    (info,) = render(msg.as_bytes()).attachments
    assert info.filename.endswith(".exe") and len(info.filename) <= 200


@pytest.mark.parametrize("ctype", ["", "Content-Type: ;;;\r\n", "Content-Type: image\r\n"])
def test_missing_or_garbage_content_type_is_octet_stream(ctype: str) -> None:
    raw = (
        'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
        "Content-Type: text/plain\r\n\r\nbody\r\n--B\r\n"
        f"{ctype}Content-Disposition: attachment; filename=a.bin\r\n\r\nxyz\r\n--B--\r\n"
    ).encode()
    (info,) = render(raw).attachments
    assert (info.filename, info.content_type, info.size) == ("a.bin", "application/octet-stream", 3)


# --- malformed input renders what it can --------------------------------------------------------


def nested(levels: int) -> bytes:
    body = "Content-Type: text/plain\r\n\r\ndeep body\r\n"
    for level in range(levels):
        body = (
            f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n'
            f"--b{level}\r\n{body}--b{level}--\r\n"
        )
    return body.encode()


def test_nesting_within_the_limit_is_walked() -> None:
    assert render(nested(5)).text == "deep body"


@pytest.mark.parametrize("levels", [25, 50])
def test_nesting_beyond_the_limit_stops_the_walk_without_raising(levels: int) -> None:
    shown = render(nested(levels))
    assert shown.text is None and shown.html is None


def test_nesting_too_deep_for_the_parser_shows_the_source_as_text() -> None:
    shown = render(nested(1500))  # the stdlib parser recurses and gives up: headers only
    assert shown.html is None
    assert shown.text is not None and "deep body" in shown.text


def test_parts_beyond_the_limit_are_not_listed() -> None:
    parts = "".join(f"--B\r\nContent-Type: application/x-{i}\r\n\r\n{i}\r\n" for i in range(500))
    raw = f'Content-Type: multipart/mixed; boundary="B"\r\n\r\n{parts}--B--\r\n'.encode()
    assert len(render(raw).attachments) == 199  # 200 parts including the container
    assert len(render(raw, max_parts=6).attachments) == 5
    with pytest.raises(NotFound):
        attachment(raw, 5, max_parts=6)


def test_multipart_without_boundary_shows_its_raw_text() -> None:
    raw = b"Content-Type: multipart/mixed\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
    shown = render(raw)
    assert shown.text is not None and "hello" in shown.text


@pytest.mark.parametrize(
    ("charset", "body", "expected"),
    [
        ("iso-8859-1", "caf\xe9".encode("latin-1"), "café"),
        ("x-no-such-charset", "café".encode(), "café"),
        ("base64", b"caf\xc3\xa9", "café"),  # a codec, but not a text codec
        ("utf-8", b"caf\xff", "caf\ufffd"),
        (None, "café".encode(), "café"),
        (None, "caf\xe9".encode("latin-1"), "café"),  # undeclared 8-bit: Latin-1 fallback
    ],
)
def test_charsets_decode_or_fall_back(charset: str | None, body: bytes, expected: str) -> None:
    ctype = "text/plain" + (f"; charset={charset}" if charset else "")
    raw = f"Content-Type: {ctype}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n".encode() + body
    assert render(raw).text == expected


@pytest.mark.parametrize(
    ("cte", "body"),
    [
        ("base64", b"aGVsbG8gd29y!!!bGQ*"),
        ("base64", b"aGVsbG8"),
        ("quoted-printable", b"hel=ZZlo="),
    ],
)
def test_bad_transfer_encoding_still_renders(cte: str, body: bytes) -> None:
    raw = f"Content-Type: text/plain\r\nContent-Transfer-Encoding: {cte}\r\n\r\n".encode() + body
    text = render(raw).text
    assert text is not None and text.startswith("hel")


# --- the HTML sanitiser -------------------------------------------------------------------------


def test_mail_formatting_survives() -> None:
    html = html_of(
        '<h1>Title</h1><p align="center">a <b>b</b> <i>i</i> <u>u</u> <font color="red">f</font>'
        "</p><table border=1><tr><td colspan=2>cell</td></tr></table><blockquote>q</blockquote>"
        "<ul><li>one</li></ul><pre>code</pre><hr><center><small>s</small><sub>1</sub></center>"
    )
    kept = ("<h1>Title</h1>", '<p align="center">', "<b>b</b>", '<font color="red">',
            '<td colspan="2">cell</td>', "<blockquote>q</blockquote>", "<li>one</li>",
            "<pre>code</pre>", "<hr>", "<center><small>s</small><sub>1</sub></center>")  # fmt: skip
    for fragment in kept:
        assert fragment in html


@pytest.mark.parametrize(
    "dangerous",
    ["<script>alert(1)</script>", "<style>p{color:red}</style>", "<iframe src=x></iframe>",
     "<object data=x></object>", "<embed src=x>", "<form action=x><input name=p></form>",
     "<svg><circle/></svg>", "<math><mi>x</mi></math>", '<meta http-equiv="refresh" content="0">',
     '<link rel="stylesheet" href="https://x.invalid/">', '<base href="https://x.invalid/">'],
)  # fmt: skip
def test_active_elements_are_removed_with_their_content(dangerous: str) -> None:
    html = html_of(f"<p>before</p>{dangerous}<p>after</p>")
    assert html == "<p>before</p><p>after</p>"


def test_form_controls_are_removed_but_a_button_label_stays_as_text() -> None:
    html = html_of('<form action="https://x.invalid/"><button formaction=x>Send</button></form>')
    assert html == "Send"


def test_links_open_in_a_new_context_without_referrer() -> None:
    html = html_of('<a href="https://example.invalid/x">x</a><a href="mailto:a@x.invalid">m</a>')
    assert html == (
        '<a href="https://example.invalid/x" target="_blank" rel="noopener noreferrer nofollow">'
        'x</a><a href="mailto:a@x.invalid" target="_blank" rel="noopener noreferrer nofollow">m</a>'
    )


@pytest.mark.parametrize(
    "href", ["javascript:alert(1)", "JaVaScRiPt&#58;alert(1)", "vbscript:x", "data:text/html,x",
             "/webmail/logout", "relative/path"],
)  # fmt: skip
def test_script_data_and_relative_links_lose_their_href(href: str) -> None:
    assert "href" not in html_of(f'<a href="{href}">x</a>')


def test_style_keeps_only_safe_properties() -> None:
    html = html_of(
        '<p style="color: red; position: fixed; font-weight: bold; '
        "background-image: url(https://x.invalid/a.png); width: expression(alert(1)); "
        'background-color: rgb(1, 2, 3); -moz-binding: url(https://x.invalid/b)">x</p>'
    )
    styles = [v for _, name, v in Attributes(html).found if name == "style"]
    assert styles == ["color:red;font-weight:bold;background-color:rgb(1, 2, 3)"]


def test_remote_resources_are_removed_and_counted() -> None:
    body = (
        '<img src="https://t.invalid/pixel.gif" width=1 height=1>'
        '<img src="//cdn.invalid/p.gif" srcset="http://a.invalid/1 1x, http://a.invalid/2 2x">'
        '<table background="http://127.0.0.1:9/bg.gif"><tr><td>x</td></tr></table>'
        '<p style="color:red; background: url(https://t.invalid/b.png)">p</p>'
    )
    msg = base_message()
    msg.set_content(body, subtype="html")
    shown = render(msg.as_bytes())
    # five: `background` is not an allowed property, so its url() would not be shown even
    # with remote content allowed, and is not counted as blocked
    assert shown.remote_blocked == 5
    assert shown.html is not None and not REMOTE_MARK.search(shown.html)
    assert '<p style="color:red">p</p>' in shown.html


def test_allow_remote_keeps_http_images_but_never_data_or_css_urls() -> None:
    html, blocked = sanitise_html(
        '<img src="https://t.invalid/a.png"><img src="//cdn.invalid/b.png">'
        '<img srcset="https://t.invalid/1.png 1x"><img src="data:image/png;base64,AAAA">'
        '<p style="background:url(https://t.invalid/c.png)">x</p>',
        allow_remote=True,
    )
    assert blocked == 0
    assert html == (
        '<img src="https://t.invalid/a.png"><img src="https://cdn.invalid/b.png">'
        '<img srcset="https://t.invalid/1.png 1x"><img><p>x</p>'
    )


def test_data_and_relative_image_sources_are_removed_even_when_remote_is_allowed() -> None:
    for src in ("data:image/png;base64,AAAA", "/webmail/logout", "pixel.gif"):
        html, blocked = sanitise_html(f'<img src="{src}">', allow_remote=True)
        assert (html, blocked) == ("<img>", 0)


def test_sanitise_html_rewrites_known_cids_only() -> None:
    html, blocked = sanitise_html(
        '<img src="cid:A%40x"><img src="cid:other@x"><img src="CID:a@X">',
        allow_remote=False,
        cid_url=cid_url,
        cid_index={"<a@x>": 3},
    )
    assert (html, blocked) == ('<img src="/webmail/part/3"><img><img src="/webmail/part/3">', 0)


def test_a_cid_url_that_is_not_http_or_a_path_is_refused() -> None:
    html, _ = sanitise_html(
        '<img src="cid:a@x">',
        allow_remote=False,
        cid_url=lambda i: "javascript:x",
        cid_index={"a@x": 1},
    )
    assert html == "<img>"


# --- never crash, never let anything through ----------------------------------------------------


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_any_bytes_render_without_raising(raw: bytes) -> None:
    shown = render(raw)
    for name, value in shown.headers:
        assert "\n" not in value and "\r" not in value, name
    assert all("/" not in a.filename and "\\" not in a.filename for a in shown.attachments)


MIME_PIECES = st.sampled_from(
    ["Content-Type: multipart/mixed; boundary=b\r\n",
     "Content-Type: multipart/alternative; boundary=b\r\n",
     "Content-Type: text/html; charset=utf-7\r\n", "Content-Type: message/rfc822\r\n",
     "Content-Transfer-Encoding: base64\r\n", "Content-Transfer-Encoding: quoted-printable\r\n",
     "Content-Disposition: attachment; filename*0*=utf-8''%2F..; filename*1=x\r\n",
     "Content-ID: <a@b>\r\n", "\r\n", "--b\r\n", "--b--\r\n", "<img src=cid:a@b>", "<script>",
     "=?utf-8?q?=0D?=", "+ADw-script+AD4-", "=ZZ", "\xff\xfe"],
)  # fmt: skip


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(MIME_PIECES, max_size=40))
def test_mime_shaped_garbage_renders_without_raising(pieces: list[str]) -> None:
    raw = "".join(pieces).encode("utf-8", "surrogateescape")
    shown = render(raw, cid_url=cid_url)
    assert "<script" not in (shown.html or "").lower()
    for info in shown.attachments:
        assert attachment(raw, info.index, max_parts=200)[0] == info


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from(list("<>/=\"' :;ajvscriptonerrorsvgimgstyle()&#x0\x00"))))
def test_any_html_sanitises_to_something_without_script(html: str) -> None:
    clean, _ = sanitise_html(html, allow_remote=False)
    assert "<script" not in clean.lower()
    assert all(not name.startswith("on") for _, name, _ in Attributes(clean).found)


def test_the_corpus_is_big_and_only_points_at_harmless_hosts() -> None:
    assert len(CORPUS) >= 120
    assert len({name for name, _ in CORPUS}) == len(CORPUS)
    urls = re.compile(rb"(?:https?:)?//([a-z0-9][^/\s\"')>\\]*)", re.IGNORECASE)
    for name, raw in CORPUS:
        for host in urls.findall(quopri.decodestring(raw)):  # soft line breaks would split URLs
            assert host.lower().endswith(b".invalid") or host == b"127.0.0.1:9", (name, host)


@pytest.mark.parametrize(("name", "raw"), CORPUS, ids=[name for name, _ in CORPUS])
@pytest.mark.parametrize("allow_remote", [False, True])
def test_hostile_message_renders_safely(name: str, raw: bytes, allow_remote: bool) -> None:
    shown = render(raw, allow_remote=allow_remote, cid_url=cid_url)
    html = shown.html or ""
    low = html.lower()
    for forbidden in ("<script", "javascript:", "vbscript:", "<iframe", "<style", "url("):
        assert forbidden not in low, forbidden
    assert not EVENT_IN_TAG.search(html)
    for tag, attr, value in Attributes(html).found:
        assert not attr.startswith("on"), (tag, attr)
        assert not value.lower().startswith("data:"), (tag, attr)
        if not allow_remote and not (tag == "a" and attr == "href"):
            assert not REMOTE_MARK.search(value), (tag, attr, value)
    for info in shown.attachments:
        assert isinstance(info, AttachmentInfo)
        assert info.filename and "/" not in info.filename and "\\" not in info.filename
    for _, value in shown.headers:
        assert not any(c in value for c in "\r\n\0")
