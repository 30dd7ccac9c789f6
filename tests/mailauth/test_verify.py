"""check_message end to end: real dkimpy signatures, DNS from a table, the header a reader sees."""

import asyncio
import email
import email.policy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securemail.mailauth.verify import AuthCheck, check_message
from securemail.net.dns import StaticResolver
from tests.mailauth.conftest import AUTHSERV_ID, FlakyResolver, SigningKey, message

CLIENT = "192.0.2.10"


def dns(key: SigningKey, **extra: list[str]) -> dict[str, list[str]]:
    """example.com: SPF for CLIENT, a DKIM key at sel, DMARC p=reject."""
    return {
        "example.com": ["v=spf1 ip4:192.0.2.0/24 -all"],
        "sel._domainkey.example.com": [key.dns_record],
        "_dmarc.example.com": ["v=DMARC1; p=reject; rua=mailto:d@example.com"],
    } | extra


async def check(
    raw: bytes,
    resolver: StaticResolver | FlakyResolver,
    *,
    ip: str = CLIENT,
    mail_from: str = "alice@example.com",
    helo: str = "mail.example.com",
) -> AuthCheck:
    return await check_message(
        raw,
        client_ip=ip,
        helo=helo,
        mail_from=mail_from,
        resolver=resolver,
        authserv_id=AUTHSERV_ID,
    )


def header_seen_by_reader(raw: bytes) -> str:
    """What a mail client shows: the parsed, unfolded Authentication-Results value."""
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    values = parsed.get_all("Authentication-Results") or []
    assert len(values) == 1
    return " ".join(str(values[0]).split())


async def test_signed_aligned_message_passes_everything(key: SigningKey) -> None:
    raw = key.sign(message(), "example.com")
    result = await check(raw, StaticResolver(txt_records=dns(key)))
    assert (result.spf, result.dkim, result.dmarc, result.dmarc_policy) == (
        "pass",
        "pass",
        "pass",
        "reject",
    )
    assert not result.failed and not result.temporary
    assert result.header == (
        "Authentication-Results: mx.securemail.test;\r\n"
        "\tspf=pass smtp.mailfrom=example.com;\r\n"
        "\tdkim=pass header.d=example.com;\r\n"
        "\tdmarc=pass (p=reject) header.from=example.com"
    )
    assert header_seen_by_reader(result.stamped(raw)) == (
        "mx.securemail.test; spf=pass smtp.mailfrom=example.com; "
        "dkim=pass header.d=example.com; dmarc=pass (p=reject) header.from=example.com"
    )


async def test_spoofed_from_fails_dmarc_and_is_marked(key: SigningKey) -> None:
    """A stranger's server, its own SPF, no signature, From: our sender's domain."""
    raw = message("Alice <alice@example.com>")
    table = dns(key, **{"evil.example": ["v=spf1 ip4:203.0.113.0/24 -all"]})
    result = await check(
        raw, StaticResolver(txt_records=table), ip="203.0.113.5", mail_from="bounce@evil.example"
    )
    assert (result.spf, result.dkim, result.dmarc) == ("pass", "none", "fail")
    assert result.failed and result.dmarc_policy == "reject"
    assert "dmarc=fail (p=reject) header.from=example.com" in header_seen_by_reader(
        result.stamped(raw)
    )


async def test_tampered_body_fails_dkim(key: SigningKey) -> None:
    raw = key.sign(message(), "example.com").replace(b"attached", b"attacked")
    result = await check(raw, StaticResolver(txt_records=dns(key)), ip="203.0.113.5")
    assert (result.spf, result.dkim, result.dmarc) == ("fail", "fail", "fail")
    assert "dkim=fail (body or tags do not verify) header.d=example.com" in result.header
    assert result.failed


async def test_wrong_key_fails_dkim_but_spf_keeps_dmarc_passing(
    key: SigningKey, other_key: SigningKey
) -> None:
    raw = other_key.sign(message(), "example.com")
    result = await check(raw, StaticResolver(txt_records=dns(key)))
    assert (result.spf, result.dkim, result.dmarc) == ("pass", "fail", "pass")
    assert "dkim=fail (bad signature)" in result.header


async def test_any_valid_signature_passes(key: SigningKey, other_key: SigningKey) -> None:
    """A list's broken signature beside the author's good one (RFC 6376 section 6.1)."""
    raw = key.sign(message(), "example.com")
    raw = other_key.sign(raw, "lists.example", selector="list")
    table = dns(key, **{"list._domainkey.lists.example": [key.dns_record]})
    result = await check(raw, StaticResolver(txt_records=table), ip="203.0.113.5")
    assert (result.dkim, result.dmarc) == ("pass", "pass")
    assert "dkim=pass header.d=example.com" in result.header


async def test_subdomain_uses_sp_and_relaxed_alignment(key: SigningKey) -> None:
    raw = key.sign(message("Alice <alice@mail.example.com>"), "example.com")
    table = dns(key)
    table["_dmarc.example.com"] = ["v=DMARC1; p=reject; sp=quarantine"]
    result = await check(raw, StaticResolver(txt_records=table), ip="203.0.113.5")
    assert (result.dkim, result.dmarc, result.dmarc_policy) == ("pass", "pass", "quarantine")
    assert result.from_domain == "mail.example.com"


async def test_strict_alignment_refuses_a_parent_domain(key: SigningKey) -> None:
    raw = key.sign(message("Alice <alice@mail.example.com>"), "example.com")
    table = dns(key)
    table["_dmarc.example.com"] = ["v=DMARC1; p=none; adkim=s; aspf=s"]
    result = await check(raw, StaticResolver(txt_records=table))
    assert (result.spf, result.dkim, result.dmarc, result.dmarc_policy) == (
        "pass",
        "pass",
        "fail",
        "none",
    )


async def test_without_dmarc_an_spf_fail_is_a_failure(key: SigningKey) -> None:
    table = {"example.com": ["v=spf1 ip4:192.0.2.0/24 -all"]}
    result = await check(message(), StaticResolver(txt_records=table), ip="203.0.113.5")
    assert (result.spf, result.dmarc, result.dmarc_policy) == ("fail", "none", "")
    assert result.failed
    assert "dmarc=none header.from=example.com" in result.header
    table["example.com"] = ["v=spf1 ip4:192.0.2.0/24 ~all"]
    softfail = await check(message(), StaticResolver(txt_records=table), ip="203.0.113.5")
    assert softfail.spf == "softfail" and not softfail.failed


async def test_unsigned_mail_from_a_domain_without_any_records() -> None:
    result = await check(message(), StaticResolver())
    assert (result.spf, result.dkim, result.dmarc) == ("none", "none", "none")
    assert not result.failed


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (message(extra=["From: ceo@bank.example"]), "several From fields"),
        (message("ceo@bank.example <x@example.com>, y@bank.example"), "several domains"),
        (message("Alice <alice@example.com"), "unreadable From field"),
        (message("undisclosed:;"), "unreadable From field"),
        (b"To: b@securemail.test\r\n\r\nno From\r\n", "no From field"),
    ],
)
async def test_a_from_field_dmarc_cannot_judge_is_permerror(
    key: SigningKey, raw: bytes, reason: str
) -> None:
    result = await check(raw, StaticResolver(txt_records=dns(key)))
    assert result.dmarc == "permerror" and result.failed
    assert reason in result.header
    assert "header.from" not in result.header


@pytest.mark.parametrize(
    "signature",
    [
        "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; b=abc",  # s=, h=, bh= missing
        "DKIM-Signature: garbage without tags",
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple; d=exa\x00mple.com; s=sel; "
        "h=from; bh=AAAA; b=AAAA",
        "DKIM-Signature: v=1; a=rsa-sha256; d=..; s=../x; h=from; bh=AAAA; b=AAAA",
        "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=!!; b=!!",
        "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=AAAA; b=AAAA; l=x",
    ],
)
async def test_malformed_signatures_are_permerror(key: SigningKey, signature: str) -> None:
    raw = (signature + "\r\n").encode() + message()
    result = await check(raw, StaticResolver(txt_records=dns(key)))
    assert result.dkim == "permerror"
    assert (result.spf, result.dmarc) == ("pass", "pass")  # SPF alone still aligns


async def test_missing_and_revoked_keys_are_permerror(key: SigningKey) -> None:
    raw = key.sign(message(), "example.com")
    missing = dns(key)
    del missing["sel._domainkey.example.com"]
    assert (await check(raw, StaticResolver(txt_records=missing))).dkim == "permerror"
    revoked = dns(key, **{"sel._domainkey.example.com": ["v=DKIM1; k=rsa; p="]})
    result = await check(raw, StaticResolver(txt_records=revoked))
    assert result.dkim == "permerror" and "(bad key)" in result.header


async def test_dns_failures_are_temperror(key: SigningKey) -> None:
    raw = key.sign(message(), "example.com")
    flaky = FlakyResolver(StaticResolver(txt_records=dns(key)))
    flaky.failing |= {"example.com", "sel._domainkey.example.com", "_dmarc.example.com"}
    result = await check(raw, flaky)
    assert (result.spf, result.dkim, result.dmarc) == ("temperror", "temperror", "temperror")
    assert result.temporary and not result.failed


async def test_dkim_asks_the_resolver_once_per_key_and_nothing_else(key: SigningKey) -> None:
    raw = key.sign(message(), "example.com")
    flaky = FlakyResolver(StaticResolver(txt_records=dns(key)))
    await check(raw, flaky)
    assert sorted(flaky.asked) == [
        "_dmarc.example.com",
        "example.com",
        "sel._domainkey.example.com",
    ]


async def test_hostile_header_text_never_reaches_our_field(key: SigningKey) -> None:
    """CR, LF and injected results in From, DKIM d= and MAIL FROM stay out of the header."""
    raw = message("x@example.com\r\nAuthentication-Results: mx.securemail.test; dmarc=pass")
    raw = (
        b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com;\r\n dmarc=pass; s=sel; h=from;"
        b" bh=AAAA; b=AAAA\r\n" + raw
    )
    result = await check(
        raw,
        StaticResolver(txt_records=dns(key)),
        mail_from="a@example.com;dmarc=pass",
        ip="203.0.113.5",
    )
    assert result.header.count("dmarc=") == 1
    assert result.header.count("\r\n") == 3
    stamped = result.stamped(raw)
    assert header_seen_by_reader(stamped).startswith("mx.securemail.test; spf=")


async def test_forged_results_of_ours_are_removed_others_kept(key: SigningKey) -> None:
    raw = key.sign(message(), "example.com")
    raw = (
        b"Authentication-Results: (forged) MX.SECUREMAIL.TEST.; dmarc=pass\r\n"
        b"Authentication-Results: mx.partner.example; dkim=pass\r\n" + raw
    )
    result = await check(raw, StaticResolver(txt_records=dns(key)))
    stamped = result.stamped(raw)
    parsed = email.message_from_bytes(stamped, policy=email.policy.default)
    values = [str(v) for v in parsed.get_all("Authentication-Results") or []]
    assert len(values) == 2
    assert values[0].startswith("mx.securemail.test;")
    assert values[1] == "mx.partner.example; dkim=pass"
    assert stamped.endswith(raw[raw.index(b"DKIM-Signature") :])


async def test_lf_messages_are_stamped_with_lf(key: SigningKey) -> None:
    raw = message().replace(b"\r\n", b"\n")
    result = await check(raw, StaticResolver(txt_records=dns(key)))
    stamped = result.stamped(raw)
    assert b"\r" not in stamped
    assert stamped.startswith(b"Authentication-Results: mx.securemail.test;\n\tspf=pass")


async def test_concurrent_checks_do_not_share_dns(key: SigningKey, other_key: SigningKey) -> None:
    """Each check uses only its own resolver: no global DNS hook leaks between them."""
    raw = key.sign(message(), "example.com")
    good = StaticResolver(txt_records=dns(key))
    bad = StaticResolver(txt_records=dns(other_key))
    results = await asyncio.gather(*(check(raw, good if i % 2 else bad) for i in range(20)))
    assert [r.dkim for r in results] == ["fail", "pass"] * 10


async def test_authserv_id_must_be_a_host_name(key: SigningKey) -> None:
    with pytest.raises(ValueError, match="authserv-id"):
        await check_message(
            message(),
            client_ip=CLIENT,
            helo="h",
            mail_from="",
            resolver=StaticResolver(),
            authserv_id="mx.example\r\nX-Evil: 1",
        )


async def test_header_lines_dkimpy_cannot_read_are_permerror(key: SigningKey) -> None:
    raw = key.sign(message(), "example.com")
    raw = raw.replace(b"To: ", b"not a header line\r\nTo: ", 1)
    result = await check(raw, StaticResolver(txt_records=dns(key)))
    assert result.dkim == "permerror" and "(unreadable header)" in result.header
    assert result.dmarc == "pass"  # SPF still aligns


async def test_lf_signed_message_verifies(key: SigningKey) -> None:
    raw = key.sign(message().replace(b"\r\n", b"\n"), "example.com")
    result = await check(raw, StaticResolver(txt_records=dns(key)), ip="203.0.113.5")
    assert (result.dkim, result.dmarc) == ("pass", "pass")


_LINES = st.one_of(
    st.text(max_size=80).map(lambda t: "From: " + t),
    st.text(max_size=120).map(lambda t: "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; " + t),
    st.text(max_size=80).map(lambda t: "Authentication-Results: " + t),
    st.text(max_size=80),
)


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(_LINES, max_size=6),
    newline=st.sampled_from(["\r\n", "\n", "\r"]),
    mail_from=st.text(max_size=40),
    helo=st.text(max_size=40),
)
def test_check_message_never_raises_and_its_field_is_clean(
    key: SigningKey, lines: list[str], newline: str, mail_from: str, helo: str
) -> None:
    raw = (newline.join(lines) + newline + newline + "body" + newline).encode("utf-8", "replace")
    resolver = StaticResolver(txt_records=dns(key))
    result = asyncio.run(check(raw, resolver, mail_from=mail_from, helo=helo))
    assert result.header.startswith("Authentication-Results: mx.securemail.test;\r\n\tspf=")
    assert result.header.count("\r") == result.header.count("\n") == 3
    parsed = email.message_from_bytes(result.stamped(raw), policy=email.policy.default)
    ours = [str(v) for v in parsed.get_all("Authentication-Results") or []]
    assert ours[0].startswith("mx.securemail.test;")
    assert not any(v.lower().startswith("mx.securemail.test") for v in ours[1:])
