"""STARTTLS (RFC 3207) and AUTH (RFC 4954) with PLAIN and LOGIN."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from securemail.core.errors import AuthenticationFailed
from securemail.wire import sasl
from securemail.wire.smtp import replies
from securemail.wire.smtp.replies import Reply

if TYPE_CHECKING:
    from securemail.protocols.smtp.session import Session

log = logging.getLogger(__name__)


async def starttls(s: Session, arg: str) -> Reply | None:
    if arg:
        return replies.reply(501, "5.5.4", "STARTTLS takes no argument")
    if s.channel.is_tls or s.config.tls is None:
        return replies.reply(503, "5.5.1", "TLS already active or not offered")
    await s.channel.write(replies.reply(220, "2.0.0", "ready to start TLS").encode())
    await s.channel.start_tls(s.config.tls)
    # RFC 3207 4.2: forget everything learnt before TLS; the client must EHLO again.
    s.helo, s.esmtp, s.ctx = None, False, None
    s.release_slot()
    s.reset_transaction()
    return None  # replied already


async def _read_response(s: Session, challenge: str) -> str:
    await s.channel.write(f"334 {challenge}\r\n".encode("ascii"))
    line, overlong = await s.channel.read_line(sasl.MAX_SASL_BYTES, s.config.idle_timeout)
    if overlong:
        raise sasl.SaslError("response too long")
    text = line.decode("ascii", "replace").rstrip("\r\n")
    if text == "*":
        raise _Cancelled
    return text


class _Cancelled(Exception):
    pass


async def _credentials(s: Session, mechanism: str, initial: str) -> sasl.Credentials:
    if mechanism == "PLAIN":
        response = initial or await _read_response(s, "")
        return sasl.decode_plain(response)
    username = sasl.decode_text(initial) if initial else ""
    if not username:
        username = sasl.decode_text(await _read_response(s, sasl.LOGIN_USERNAME_PROMPT))
    password = sasl.decode_text(await _read_response(s, sasl.LOGIN_PASSWORD_PROMPT))
    return sasl.Credentials("", username, password)


async def auth(s: Session, arg: str) -> Reply:
    mechanism, _, initial = arg.partition(" ")
    mechanism = mechanism.upper()
    if s.ctx is not None or s.envelope.mail_from is not None:
        return replies.reply(503, "5.5.1", "already authenticated or in a mail transaction")
    if not s.helo:
        return replies.reply(503, "5.5.1", "send EHLO first")
    if not s.may_auth:
        return replies.TLS_REQUIRED
    if mechanism not in ("PLAIN", "LOGIN"):
        return replies.reply(504, "5.5.4", "unrecognised authentication mechanism")
    try:
        creds = await _credentials(s, mechanism, initial.strip())
    except _Cancelled:
        return replies.reply(501, "5.7.0", "authentication cancelled")
    except sasl.SaslError as exc:
        return replies.reply(501, "5.5.2", str(exc))
    if creds.authzid and creds.authzid.lower() != creds.authcid.lower():
        return replies.reply(535, "5.7.8", "authentication credentials invalid")
    try:
        ctx, _mailbox = await s.services.auth.authenticate_mail_client(
            creds.authcid, creds.password, channel="smtp", remote=s.channel.peer_ip
        )  # `user#group` works as for IMAP and POP3; the From: check decides what is sent
    except AuthenticationFailed:
        return replies.reply(535, "5.7.8", "authentication credentials invalid")
    if not s.caps.acquire(ctx.user_id):  # RFC 4954 6: a temporary failure; stay anonymous
        log.info("smtp: %s refused: [smtp] max_connections_per_user reached", ctx.address)
        return replies.reply(454, "4.7.0", "too many connections for this user, try later")
    s.ctx, s.slot = ctx, ctx.user_id
    return replies.reply(235, "2.7.0", "authentication successful")
