"""The mail transaction: MAIL (RFC 5321 4.1.1.2), RCPT (4.1.1.3), DATA (4.1.1.4).

On the MX listener recipients must be local mailboxes unless the client authenticated; on
the submission listeners the client must authenticate first and may only send as itself or
as a group mailbox where it holds Mail. 250 to DATA is sent only after a durable commit.
"""

from __future__ import annotations

import email.utils
from typing import TYPE_CHECKING

from securemail.core.context import system_context
from securemail.core.errors import InvalidInput, PermissionDenied, SecuremailError
from securemail.protocols.smtp.errors import error_reply
from securemail.services.delivery import Recipient
from securemail.wire.smtp import replies
from securemail.wire.smtp.commands import PathCommand, SyntaxProblem, parse_mail, parse_rcpt
from securemail.wire.smtp.data import DataReader
from securemail.wire.smtp.replies import Reply

if TYPE_CHECKING:
    from securemail.protocols.smtp.session import AuthVerdict, Session

TRANSPORT = system_context("smtp")
KNOWN_MAIL_PARAMS = {"SIZE", "BODY", "SMTPUTF8", "AUTH"}


def _check_mail_params(s: Session, cmd: PathCommand) -> Reply | None:
    unknown = set(cmd.params) - KNOWN_MAIL_PARAMS
    if unknown:
        return replies.reply(555, "5.5.4", f"unsupported parameter {sorted(unknown)[0]}")
    body = cmd.params.get("BODY", "7BIT").upper()
    if body not in ("7BIT", "8BITMIME"):
        return replies.reply(555, "5.5.4", "BODY must be 7BIT or 8BITMIME")
    size = cmd.params.get("SIZE", "0")
    if not (size.isascii() and size.isdigit()):
        return replies.reply(501, "5.5.4", "SIZE must be a number")
    if int(size) > s.config.max_message_bytes:  # RFC 1870 section 6.1
        return replies.reply(552, "5.3.4", "message size exceeds the limit")
    return None


async def mail(s: Session, arg: str) -> Reply:
    if not s.helo:
        return replies.reply(503, "5.5.1", "send EHLO first")
    if s.envelope.mail_from is not None:
        return replies.reply(503, "5.5.1", "nested MAIL command")
    if s.config.mode == "submission" and s.ctx is None:
        return replies.AUTH_REQUIRED
    try:
        cmd = parse_mail(arg)
    except SyntaxProblem as exc:
        return replies.reply(501, "5.5.4", str(exc))
    problem = _check_mail_params(s, cmd)
    if problem is not None:
        return problem
    if s.ctx is not None:  # authenticated: MAIL FROM must be an address we may send as
        try:
            await s.services.submission.require_sender(s.ctx, cmd.address)
        except (PermissionDenied, InvalidInput) as exc:
            return replies.reply(550, "5.7.1", str(exc))
        await s.services.submission.check_rate(s.ctx)  # over the hour's limit: 451 4.7.1
    s.envelope.mail_from = cmd.address
    s.commands_without_mail = 0
    return replies.reply(250, "2.1.0", "sender OK")


async def rcpt(s: Session, arg: str) -> Reply:
    if s.envelope.mail_from is None:
        return replies.reply(503, "5.5.1", "need MAIL before RCPT")
    if len(s.envelope.recipients) >= s.config.max_recipients:
        return replies.reply(452, "4.5.3", "too many recipients")
    try:
        address = parse_rcpt(arg).address
    except SyntaxProblem as exc:
        return replies.reply(501, "5.5.4", str(exc))
    if s.ctx is not None:
        return await _rcpt_authenticated(s, address)
    found = await s.services.delivery.lookup(TRANSPORT, address)
    if isinstance(found, Recipient):
        s.envelope.recipients.append(address)
        s.envelope.resolved.append(found)
        return replies.reply(250, "2.1.5", "recipient OK")
    if found == "unknown":
        return replies.reply(550, "5.1.1", "no such mailbox here")
    return replies.reply(554, "5.7.1", "relaying denied: authenticate to send elsewhere")


async def _rcpt_authenticated(s: Session, address: str) -> Reply:
    assert s.ctx is not None
    try:
        local = await s.services.submission.check_recipient(s.ctx, address)
    except InvalidInput:
        return replies.reply(550, "5.1.1", "no such mailbox here")
    except PermissionDenied as refused:
        return replies.reply(550, "5.7.1", str(refused))
    s.envelope.local_only = s.envelope.local_only and local
    s.envelope.recipients.append(address)
    return replies.reply(250, "2.1.5", "recipient OK")


async def _read_data(s: Session) -> DataReader:
    reader = DataReader(max_bytes=s.config.max_message_bytes, max_line=s.config.max_line_length)
    while not reader.done:
        line, overlong = await s.channel.read_line(s.config.max_line_length, s.config.idle_timeout)
        reader.feed(line, overlong)
    return reader


def _refusal(reader: DataReader) -> Reply | None:
    if reader.bare_newline:
        return replies.reply(554, "5.5.2", "message refused: bare CR or LF (SMTP smuggling)")
    if reader.too_big:
        return replies.reply(552, "5.3.4", "message size exceeds the limit")
    if reader.line_too_long:
        return replies.reply(554, "5.6.0", f"line longer than {reader.max_line} octets")
    return None


async def data(s: Session, arg: str) -> Reply:
    if s.envelope.mail_from is None or not s.envelope.recipients:
        return replies.reply(503, "5.5.1", "need MAIL and RCPT before DATA")
    if arg:
        return replies.reply(501, "5.5.4", "DATA takes no argument")
    await s.channel.write(replies.reply(354, "", "end data with <CR><LF>.<CR><LF>").encode())
    reader = await _read_data(s)
    envelope = s.envelope
    s.reset_transaction()
    refusal = _refusal(reader)
    if refusal is not None:
        return refusal
    try:
        return await _accept(
            s, envelope.mail_from or "", envelope.recipients, envelope.resolved, reader.message()
        )
    except SecuremailError as exc:
        return error_reply(exc)


def _received(s: Session, recipients: list[str]) -> bytes:
    """The trace field (RFC 5321 4.4): from, by, with, id, for; date."""
    proto = "ESMTP" if s.esmtp else "SMTP"
    proto += "S" if s.channel.is_tls else ""
    proto += "A" if s.ctx is not None else ""
    rcpt = f"\r\n\tfor <{recipients[0]}>" if len(recipients) == 1 else ""
    helo = "".join(c for c in (s.helo or "unknown") if c.isprintable())[:100]
    date = email.utils.formatdate(usegmt=True)
    text = (
        f"Received: from {helo} ([{s.channel.peer_ip}])\r\n\tby {s.config.hostname} "
        f"with {proto} id {s.session_id}{rcpt};\r\n\t{date}\r\n"
    )
    return text.encode("utf-8", "replace")


async def _accept(
    s: Session, mail_from: str, recipients: list[str], resolved: list[Recipient], raw: bytes
) -> Reply:
    if s.ctx is not None:
        sent = await s.services.submission.submit(
            s.ctx, mail_from, recipients, _received(s, recipients) + raw
        )
        if sent.queued and s.on_queued is not None:
            s.on_queued()
        return replies.reply(250, "2.0.0", f"message accepted ({s.session_id})")
    if s.checker is not None:
        verdict = await s.checker(raw, s.channel.peer_ip, s.helo or "", mail_from)
        refusal = _policy_refusal(s, verdict)
        if refusal is not None:
            return refusal
        raw = verdict.stamped(raw)  # our Authentication-Results on top, forgeries removed
    raw = _received(s, recipients) + raw
    result = await s.services.delivery.deliver(TRANSPORT, raw, resolved)
    if not result.delivered:
        return replies.reply(550, "5.1.1", "no such mailbox here")
    return replies.reply(250, "2.0.0", f"accepted {s.session_id}")


def _policy_refusal(s: Session, verdict: AuthVerdict) -> Reply | None:
    """With [smtp] auth_failure_policy = "reject": refuse what fails DMARC (or SPF without
    DMARC), unless the sender's domain asked for p=none; a DNS failure defers."""
    if s.config.auth_failure_policy != "reject":
        return None
    if verdict.temporary:
        return replies.reply(451, "4.7.5", "sender authentication could not be checked")
    if verdict.failed and verdict.dmarc_policy != "none":
        return replies.reply(550, "5.7.1", "message failed sender authentication (DMARC/SPF)")
    return None


async def bdat(s: Session, arg: str) -> Reply:
    return replies.NOT_IMPLEMENTED  # CHUNKING (RFC 3030) is not offered
