"""SMTP reply classification and the RFC 3464 delivery status notification."""

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage, Message

from securemail.mail.dsn import (
    FailedRecipient,
    Notification,
    Outcome,
    build_dsn,
    from_reply,
    local_status,
)
from tests.relay.conftest import parts

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ORIGINAL = (
    b"From: Alice <alice@polres.co.uk>\r\nTo: bob@remote.test\r\nSubject: Case 42\r\n"
    b"Message-ID: <case42@polres.co.uk>\r\n\r\nThe confidential body.\r\n"
)


def test_reply_classes_follow_rfc_5321() -> None:
    assert from_reply(250, "2.0.0 OK").outcome is Outcome.SENT
    temporary = from_reply(451, "4.3.0 try again later", "mx.remote.test")
    assert (temporary.outcome, temporary.status, temporary.diagnostic) == (
        Outcome.TEMPORARY,
        "4.3.0",
        "451 4.3.0 try again later",
    )
    permanent = from_reply(550, "5.1.1 <bob@remote.test>: no such user")
    assert (permanent.outcome, permanent.status) == (Outcome.PERMANENT, "5.1.1")


def test_enhanced_code_of_the_wrong_class_or_missing_is_replaced() -> None:
    assert from_reply(550, "4.1.1 confused server").status == "5.0.0"
    assert from_reply(452, "mailbox full").status == "4.0.0"
    assert from_reply(354, "go ahead?").outcome is Outcome.TEMPORARY


def test_reply_text_is_one_bounded_ascii_line() -> None:
    status = from_reply(550, "5.7.1 no\r\nBcc: evil@x.test\x00 caf\u00e9 " + "x" * 2000)
    assert "\r" not in status.text and "\n" not in status.text and "\0" not in status.text
    assert status.text.isascii() and len(status.text) <= 500


def _dsn(*recipients: FailedRecipient, original: bytes = ORIGINAL) -> EmailMessage:
    raw = build_dsn(
        Notification(
            reporting_mta="mail.polres.co.uk",
            sender="alice@polres.co.uk",
            recipients=recipients,
            original=original,
            arrival=NOW,
            now=NOW,
        )
    )
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _status_blocks(dsn: EmailMessage) -> list[Message]:
    part = parts(dsn)[1]
    assert part.get_content_type() == "message/delivery-status"
    return parts(part)


def test_dsn_is_a_multipart_report_with_per_recipient_status() -> None:
    failed = FailedRecipient(
        "bob@remote.test", from_reply(550, "5.1.1 no such user", "mx.remote.test"), NOW
    )
    deferred = FailedRecipient(
        "carol@remote.test", local_status(Outcome.TEMPORARY, "4.4.1", "no answer"), None
    )
    dsn = _dsn(failed, deferred)
    assert dsn.get_content_type() == "multipart/report"
    assert dsn.get_param("report-type") == "delivery-status"
    assert dsn["To"].addresses[0].addr_spec == "alice@polres.co.uk"
    assert dsn["Auto-Submitted"] == "auto-replied"
    per_message, bob, carol = _status_blocks(dsn)
    assert per_message["Reporting-MTA"] == "dns; mail.polres.co.uk"
    assert bob["Final-Recipient"] == "rfc822; bob@remote.test"
    assert (bob["Action"], bob["Status"]) == ("failed", "5.1.1")
    assert bob["Remote-MTA"] == "dns; mx.remote.test"
    assert bob["Diagnostic-Code"] == "smtp; 550 5.1.1 no such user"
    assert (carol["Status"], carol["Remote-MTA"]) == ("4.4.1", None)
    assert "bob@remote.test" in parts(dsn)[0].get_content()


def test_dsn_returns_the_headers_but_not_the_body() -> None:
    dsn = _dsn(FailedRecipient("bob@remote.test", from_reply(550, "5.1.1 unknown"), NOW))
    returned = parts(dsn)[2]
    assert returned.get_content_type() == "text/rfc822-headers"
    text = returned.get_payload()
    assert "Subject: Case 42" in text
    assert "confidential body" not in dsn.as_string()


def test_remote_reply_with_crlf_cannot_inject_dsn_fields() -> None:
    hostile = from_reply(550, "5.1.1 gone\r\nFinal-Recipient: rfc822; x@evil.test\r\n\r\nX: y")
    dsn = _dsn(FailedRecipient("bob@remote.test", hostile, NOW))
    _per_message, bob = _status_blocks(dsn)
    assert bob.get_all("Final-Recipient") == ["rfc822; bob@remote.test"]
    assert bob["X"] is None


def test_recipient_with_line_break_cannot_inject_headers() -> None:
    failed = FailedRecipient("bob@remote.test\r\nBcc: x@evil.test", from_reply(550, "no"), NOW)
    dsn = _dsn(failed)
    assert dsn["Bcc"] is None
    _per_message, bob = _status_blocks(dsn)
    assert bob["Final-Recipient"] == "rfc822; bob@remote.testBcc:x@evil.test"
