"""One outbound SMTP session with aiosmtplib (RFC 5321 section 3): greeting and EHLO, STARTTLS
by policy (RFC 3207), AUTH to a smarthost only under TLS (RFC 4954), then one mail
transaction with a reply per recipient."""

import contextlib
import enum
import ssl
from dataclasses import dataclass

import aiosmtplib

from securemail.mail.dsn import DeliveryStatus, Outcome, from_reply, local_status
from securemail.relay.routes import Hop

QUIT_TIMEOUT = 5.0  # seconds we wait for the reply to QUIT before closing anyway


class TlsMode(enum.Enum):
    OPPORTUNISTIC = "opportunistic"  # STARTTLS when offered, certificate not checked
    REQUIRED = "required"  # STARTTLS with a verified certificate, or no delivery at all
    CLEAR = "clear"  # no STARTTLS: the retry after an opportunistic handshake failed


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class Transaction:
    sender: str  # "" is the null reverse-path
    recipients: tuple[str, ...]
    raw: bytes


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    tls: TlsMode
    helo: str
    timeout: float
    credentials: Credentials | None
    verified_context: ssl.SSLContext
    unverified_context: ssl.SSLContext


class HopFailure(Exception):
    """This host did not take the message; another host (or a later attempt) may."""

    def __init__(self, status: DeliveryStatus, *, retry_clear: bool = False) -> None:
        super().__init__(status.text)
        self.status = status
        self.retry_clear = retry_clear


def _where(hop: Hop) -> str:
    return hop.host if hop.host == hop.address else f"{hop.host}[{hop.address}]"


async def run_session(
    hop: Hop, txn: Transaction, policy: SessionPolicy
) -> dict[str, DeliveryStatus]:
    """Deliver `txn` through `hop`: a status per recipient, or HopFailure for them all."""
    client = aiosmtplib.SMTP(
        hostname=hop.address,
        port=hop.port,
        local_hostname=policy.helo,
        timeout=policy.timeout,
        start_tls=False,
    )
    tls = ""
    try:
        try:
            await client.connect()
            await _hello(client)
            tls = await _secure(client, hop, policy)
            await _authenticate(client, hop, policy, tls)
            return await _transaction(client, hop, txn, tls)
        except aiosmtplib.SMTPResponseException as exc:  # greeting, EHLO refused
            raise HopFailure(from_reply(exc.code, exc.message, hop.host, tls)) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            text = f"{_where(hop)}: {exc or type(exc).__name__}"
            raise HopFailure(local_status(Outcome.TEMPORARY, "4.4.1", text, hop.host)) from None
    finally:
        await _close(client)


async def _hello(client: aiosmtplib.SMTP) -> None:
    """EHLO, falling back to HELO for a server that does not know it (RFC 5321 section 3.2)."""
    try:
        await client.ehlo()
    except aiosmtplib.SMTPHeloError:
        await client.helo()


async def _secure(client: aiosmtplib.SMTP, hop: Hop, policy: SessionPolicy) -> str:
    """STARTTLS according to policy; the TLS version in use, or "" in clear."""
    if policy.tls is TlsMode.CLEAR:
        return ""
    if not client.supports_extension("starttls"):
        if policy.tls is TlsMode.REQUIRED:
            text = f"TLS is required but {_where(hop)} does not offer STARTTLS"
            raise HopFailure(local_status(Outcome.TEMPORARY, "4.7.4", text, hop.host))
        return ""
    required = policy.tls is TlsMode.REQUIRED
    context = policy.verified_context if required else policy.unverified_context
    try:
        await client.starttls(server_hostname=hop.host, tls_context=context)
    except Exception as exc:  # refused (454), handshake or certificate failure
        text = f"TLS with {_where(hop)} failed: {exc or type(exc).__name__}"
        status = local_status(Outcome.TEMPORARY, "4.7.5", text, hop.host)
        raise HopFailure(status, retry_clear=not required) from None
    await client.ehlo()  # RFC 3207 section 4.2: forget what was learnt before TLS
    ssl_object = client.get_transport_info("ssl_object")
    return str(ssl_object.version()) if ssl_object is not None else "TLS"


async def _authenticate(client: aiosmtplib.SMTP, hop: Hop, policy: SessionPolicy, tls: str) -> None:
    """AUTH to the smarthost (RFC 4954); credentials never cross a connection in clear.

    A refusal is temporary on purpose: a wrong smarthost password is the operator's to fix,
    not a reason to bounce every message."""
    if policy.credentials is None:
        return
    if not tls:
        text = f"not sending credentials to {_where(hop)} without TLS"
        raise HopFailure(local_status(Outcome.TEMPORARY, "4.7.4", text, hop.host))
    try:
        await client.login(policy.credentials.username, policy.credentials.password)
    except aiosmtplib.SMTPException as exc:
        text = f"{_where(hop)} refused our credentials: {exc}"
        raise HopFailure(local_status(Outcome.TEMPORARY, "4.7.0", text, hop.host)) from None


def _mail_options(client: aiosmtplib.SMTP, raw: bytes) -> list[str] | DeliveryStatus:
    """SIZE (RFC 1870) and BODY=8BITMIME (RFC 6152) parameters, or a permanent failure when
    the host announces a size limit below the message."""
    options: list[str] = []
    if client.supports_extension("size"):
        limit = client.esmtp_extensions.get("size", "").strip()
        if (limit.isascii() and limit.isdigit()) and 0 < int(limit) < len(raw):
            text = f"message of {len(raw)} bytes exceeds the host's limit of {limit}"
            return local_status(Outcome.PERMANENT, "5.3.4", text)
        options.append(f"SIZE={len(raw)}")
    if client.supports_extension("8bitmime") and any(b > 127 for b in raw):
        options.append("BODY=8BITMIME")
    return options


async def _transaction(
    client: aiosmtplib.SMTP, hop: Hop, txn: Transaction, tls: str
) -> dict[str, DeliveryStatus]:
    """MAIL, one RCPT per recipient, DATA (RFC 5321 section 3.3); a reply per recipient."""
    options = _mail_options(client, txn.raw)
    if isinstance(options, DeliveryStatus):
        return dict.fromkeys(txn.recipients, options)
    try:
        await client.mail(txn.sender, options=options)
    except aiosmtplib.SMTPResponseException as exc:
        status = from_reply(exc.code, exc.message, hop.host, tls)
        return dict.fromkeys(txn.recipients, status)
    results: dict[str, DeliveryStatus] = {}
    accepted: list[str] = []
    for recipient in txn.recipients:
        try:
            await client.rcpt(recipient)
            accepted.append(recipient)
        except aiosmtplib.SMTPResponseException as exc:
            results[recipient] = from_reply(exc.code, exc.message, hop.host, tls)
    if not accepted:
        return results
    try:
        reply = await client.data(txn.raw)
        status = from_reply(reply.code, reply.message, hop.host, tls)
    except aiosmtplib.SMTPResponseException as exc:
        status = from_reply(exc.code, exc.message, hop.host, tls)
    results.update(dict.fromkeys(accepted, status))
    return results


async def _close(client: aiosmtplib.SMTP) -> None:
    """QUIT politely when still connected, then drop the connection whatever happens."""
    if client.is_connected:
        with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
            await client.quit(timeout=QUIT_TIMEOUT)
    client.close()
