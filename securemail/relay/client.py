"""The outbound relay: route a message for one recipient domain (MX or smarthost), pick the TLS
policy, and try the hosts in order until one gives an answer for each recipient."""

import logging
import ssl

from securemail.config import RelaySettings
from securemail.mail.dsn import DeliveryStatus, Outcome, local_status
from securemail.net.dns import Resolver
from securemail.relay.routes import Hop, RouteError, hops_for, parse_smarthost, smarthost_hop
from securemail.relay.session import (
    Credentials,
    HopFailure,
    SessionPolicy,
    TlsMode,
    Transaction,
    run_session,
)

log = logging.getLogger("securemail.relay")


def verified_context() -> ssl.SSLContext:
    """Certificate and host name checked against the system's trust store, TLS 1.2 or newer."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def unverified_context() -> ssl.SSLContext:
    """Opportunistic TLS (RFC 7435): encryption against passive listeners, no authentication.
    Checking certificates here would only push mail back to clear text."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Relay:
    """Sends one transaction per (message, recipient domain); never raises for remote trouble."""

    def __init__(
        self,
        resolver: Resolver,
        settings: RelaySettings,
        *,
        helo: str,
        verify_context: ssl.SSLContext | None = None,
    ) -> None:
        self.resolver = resolver
        self.settings = settings
        self.smarthost = parse_smarthost(settings.smarthost)
        self.credentials = (
            Credentials(settings.smarthost_username, settings.smarthost_password)
            if settings.smarthost_username
            else None
        )
        self.helo = helo
        self.verified = verify_context or verified_context()
        self.unverified = unverified_context()

    async def _hops(self, domain: str) -> list[Hop]:
        if self.smarthost is not None:
            return [smarthost_hop(self.smarthost)]
        return await hops_for(self.resolver, domain, self.settings.port)

    def _mode(self, tls_required: bool) -> TlsMode:
        """Verified TLS for TLS-required domains and for a smarthost we log in to."""
        if tls_required or (self.smarthost is not None and self.credentials is not None):
            return TlsMode.REQUIRED
        return TlsMode.OPPORTUNISTIC

    def _policy(self, mode: TlsMode) -> SessionPolicy:
        return SessionPolicy(
            tls=mode,
            helo=self.helo,
            timeout=float(self.settings.connect_timeout_seconds),
            credentials=self.credentials if self.smarthost is not None else None,
            verified_context=self.verified,
            unverified_context=self.unverified,
        )

    async def deliver(
        self, domain: str, txn: Transaction, *, tls_required: bool
    ) -> dict[str, DeliveryStatus]:
        """A status for every recipient of `txn` (all in `domain`)."""
        try:
            hops = await self._hops(domain)
        except RouteError as exc:
            return dict.fromkeys(txn.recipients, exc.status)
        mode = self._mode(tls_required)
        failure = local_status(Outcome.TEMPORARY, "4.4.4", f"no host to try for {domain}")
        for hop in hops:
            try:
                results = await self._try_hop(hop, txn, mode)
            except HopFailure as exc:
                log.info("relay to %s via %s: %s", domain, hop.host, exc.status.diagnostic)
                failure = exc.status
                continue
            return {r: results.get(r, failure) for r in txn.recipients}
        return dict.fromkeys(txn.recipients, failure)

    async def _try_hop(
        self, hop: Hop, txn: Transaction, mode: TlsMode
    ) -> dict[str, DeliveryStatus]:
        """One session; after a failed opportunistic handshake, one more in clear (RFC 7435)."""
        try:
            return await run_session(hop, txn, self._policy(mode))
        except HopFailure as exc:
            if not exc.retry_clear:
                raise
            log.info("relay via %s: %s; retrying without TLS", hop.host, exc.status.text)
        return await run_session(hop, txn, self._policy(TlsMode.CLEAR))
