"""STARTTLS (RFC 2595), LOGIN and AUTHENTICATE PLAIN with SASL-IR (RFC 4959)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from securemail.core.errors import AuthenticationFailed
from securemail.protocols.imap.basic import AFTER_LOGIN
from securemail.protocols.imap.errors import Bad, No
from securemail.protocols.imap.state import Login, Outcome, State
from securemail.wire import sasl
from securemail.wire.imap.parser import Command, astring, atom
from securemail.wire.imap.responses import tagged

if TYPE_CHECKING:
    from securemail.protocols.imap.session import Session

CHANNEL = "imap"
log = logging.getLogger(__name__)


async def starttls(s: Session, cmd: Command) -> Outcome | None:
    if cmd.args:
        raise Bad("STARTTLS takes no arguments")
    if s.channel.is_tls or s.config.tls is None:
        raise Bad("TLS is already active or not offered here")
    await s.send(tagged(cmd.tag, "OK", "begin TLS negotiation now"))
    await s.channel.start_tls(s.config.tls)
    s.state = State()  # RFC 3501 6.2.1: forget everything learnt before TLS
    return None


async def _log_in(s: Session, login: str, password: str) -> Outcome:
    if not s.may_login:
        raise No("log in only after STARTTLS", "PRIVACYREQUIRED")
    try:
        ctx, home = await s.services.auth.authenticate_mail_client(
            login, password, channel=CHANNEL, remote=s.channel.peer_ip
        )
    except AuthenticationFailed:
        raise No("authentication failed", "AUTHENTICATIONFAILED") from None
    if not s.caps.acquire(ctx.user_id):  # RFC 5530 LIMIT; the session stays unauthenticated
        log.info("imap: %s refused: [imap] max_connections_per_user reached", ctx.address)
        raise No("Too many connections for this user", "LIMIT")
    s.slot = ctx.user_id
    group = home.owner_user_id != ctx.user_id
    s.state = State(login=Login(ctx, home, group_login=group))
    return Outcome("OK", "logged in", f"CAPABILITY {AFTER_LOGIN}")


async def login(s: Session, cmd: Command) -> Outcome:
    """login = "LOGIN" SP userid SP password; userid = astring; password = astring."""
    if len(cmd.args) != 2:
        raise Bad("LOGIN takes a user name and a password")
    return await _log_in(s, astring(cmd.args[0]), astring(cmd.args[1]))


async def authenticate(s: Session, cmd: Command) -> Outcome:
    """authenticate = "AUTHENTICATE" SP auth-type [SP (base64 / "=")] *(CRLF base64)."""
    if not cmd.args or len(cmd.args) > 2:
        raise Bad("AUTHENTICATE takes a mechanism and an optional initial response")
    if atom(cmd.args[0]).upper() != "PLAIN":
        raise No("unsupported mechanism", "CANNOT")
    if not s.may_login:
        raise No("log in only after STARTTLS", "PRIVACYREQUIRED")
    if len(cmd.args) == 2:
        response = astring(cmd.args[1])
    else:
        await s.send(b"+ \r\n")
        response = (await s.read_line()).decode("ascii", "replace").strip()
        if response == "*":
            raise Bad("authentication cancelled")
    try:
        creds = sasl.decode_plain(response)
    except sasl.SaslError as exc:
        raise Bad(str(exc)) from None
    if creds.authzid and creds.authzid.lower() != creds.authcid.lower():
        raise No("authentication failed", "AUTHENTICATIONFAILED")
    return await _log_in(s, creds.authcid, creds.password)
