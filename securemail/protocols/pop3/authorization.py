"""The AUTHORIZATION state: STLS (RFC 2595 section 4), USER/PASS (RFC 1939 section 7) and
AUTH PLAIN (RFC 5034, RFC 4616), all ending in one login path."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from securemail.protocols.pop3.errors import CommandFailed
from securemail.wire import pop3, sasl
from securemail.wire.pop3 import Command

if TYPE_CHECKING:
    from securemail.protocols.pop3.session import Session

log = logging.getLogger(__name__)
TLS_FIRST = "credentials are accepted only over TLS: use STLS or the TLS port"
MECHANISMS = ("PLAIN",)


def _require_tls(s: Session) -> None:
    if not s.may_auth:
        raise CommandFailed(TLS_FIRST, pop3.AUTH)


async def stls(s: Session, command: Command) -> bytes | None:
    if command.arg:
        raise pop3.Pop3SyntaxError("STLS takes no argument")
    if s.channel.is_tls or s.config.tls is None:
        raise CommandFailed("TLS is already active or not offered here")
    await s.channel.write(pop3.ok("begin TLS negotiation"))
    await s.channel.start_tls(s.config.tls)  # drops whatever was pipelined in clear
    s.user_name = None  # RFC 2595 4: forget everything learnt before TLS
    return None


async def user(s: Session, command: Command) -> bytes:
    """Always +OK for a well-formed name: whether it exists is told by nothing."""
    _require_tls(s)
    if not command.arg or " " in command.arg:
        raise pop3.Pop3SyntaxError("syntax: USER name")
    s.user_name = command.arg
    return pop3.ok("send PASS")


async def pass_(s: Session, command: Command) -> bytes:
    """The whole rest of the line is the password (RFC 1939 section 7: it may hold spaces)."""
    _require_tls(s)
    name, s.user_name = s.user_name, None
    if name is None:
        raise CommandFailed("send USER first")
    if not command.arg:
        raise pop3.Pop3SyntaxError("syntax: PASS password")
    return await login(s, name, command.arg)


async def auth(s: Session, command: Command) -> bytes:
    """AUTH alone lists the mechanisms; AUTH PLAIN [initial-response] (RFC 5034 section 4)."""
    if not command.arg:
        return pop3.multiline("SASL mechanisms follow", list(MECHANISMS))
    mechanism, _, initial = command.arg.partition(" ")
    if mechanism.upper() not in MECHANISMS:
        raise CommandFailed("unsupported authentication mechanism")
    _require_tls(s)
    response = initial or await _continuation(s)
    try:
        creds = sasl.decode_plain(response)
    except sasl.SaslError as exc:
        raise CommandFailed(str(exc)) from None
    return await login(s, _login_name(creds), creds.password)


def _login_name(creds: sasl.Credentials) -> str:
    """An authorization identity other than the user names the group mailbox to open, the
    same as the `user#group` login form."""
    if creds.authzid and creds.authzid.lower() != creds.authcid.lower():
        return f"{creds.authcid}#{creds.authzid}"
    return creds.authcid


async def _continuation(s: Session) -> str:
    """Send the empty challenge and read the client's response (RFC 5034 section 4)."""
    await s.channel.write(b"+ \r\n")
    line, overlong = await s.channel.read_line(sasl.MAX_SASL_BYTES, s.config.idle_timeout)
    if overlong:
        raise CommandFailed("authentication response too long")
    text = line.decode("ascii", "replace").rstrip("\r\n")
    if text == "*":
        raise CommandFailed("authentication cancelled")
    return text


async def login(s: Session, name: str, password: str) -> bytes:
    """Every failure, unknown user, wrong password or a group not readable, costs the same
    and says the same (services.auth.authenticate_mail_client)."""
    ctx, mailbox = await s.services.auth.authenticate_mail_client(
        name, password, channel="pop3", remote=s.channel.peer_ip
    )
    key = (ctx.user_id, mailbox.id)
    if not s.locks.acquire(key):
        raise CommandFailed("this maildrop is open in another session", pop3.IN_USE)
    if not s.caps.acquire(ctx.user_id):
        # Not IN-USE (RFC 2449 8.1.1: this maildrop is locked): a temporary refusal that
        # passes once another session ends (RFC 3206 4, as Dovecot answers its own cap).
        s.locks.release(key)
        log.info("pop3: %s refused: [pop3] max_connections_per_user reached", ctx.address)
        raise CommandFailed("too many connections for this user", pop3.SYS_TEMP)
    try:
        drop = await s.services.maildrop.open(ctx, mailbox.id)
    except BaseException:
        s.locks.release(key)
        s.caps.release(ctx.user_id)
        raise
    s.slot = ctx.user_id
    s.enter_transaction(ctx, drop, key)
    size = sum(m.size for m in drop.messages)
    return pop3.ok(f"maildrop has {len(drop.messages)} messages ({size} octets)")
