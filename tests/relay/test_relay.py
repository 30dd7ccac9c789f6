"""The relay against a real SMTP server on a loopback socket: STARTTLS policy, per-recipient
replies, MX fallback, and a smarthost with AUTH."""

import dataclasses
import ssl

from securemail.config import RelaySettings
from securemail.mail.dsn import DeliveryStatus, Outcome
from securemail.net.dns import MxRecord, StaticResolver
from securemail.relay.client import Relay
from securemail.relay.session import Transaction
from tests.relay.conftest import (
    MX_HOST,
    REMOTE,
    SENDER,
    Certificates,
    SinkHandler,
    message,
    resolver_for,
    serve_sink,
)

BOB, CAROL = f"bob@{REMOTE}", f"carol@{REMOTE}"


def relay(port: int, verify: ssl.SSLContext | None = None, **settings: object) -> Relay:
    config = dataclasses.replace(RelaySettings(), port=port, connect_timeout_seconds=10)
    config = dataclasses.replace(config, **settings)  # type: ignore[arg-type]
    return Relay(resolver_for(REMOTE), config, helo="mail.polres.co.uk", verify_context=verify)


async def send(r: Relay, *recipients: str, tls_required: bool = False) -> dict[str, DeliveryStatus]:
    txn = Transaction(SENDER, recipients or (BOB,), message())
    return await r.deliver(REMOTE, txn, tls_required=tls_required)


async def test_opportunistic_starttls_is_used_when_offered(certs: Certificates) -> None:
    """The sink's certificate is from a CA the relay does not trust: opportunistic TLS still
    encrypts (RFC 7435), it just does not authenticate."""
    async with serve_sink(tls_context=certs.server_context(MX_HOST)) as sink:
        result = await send(relay(sink.port))
    assert result[BOB].outcome is Outcome.SENT
    assert result[BOB].tls.startswith("TLS")
    assert [m.tls for m in sink.handler.messages] == [True]


async def test_without_starttls_mail_goes_in_clear_by_default() -> None:
    async with serve_sink() as sink:
        result = await send(relay(sink.port))
    assert (result[BOB].outcome, result[BOB].tls) == (Outcome.SENT, "")
    assert [m.tls for m in sink.handler.messages] == [False]


async def test_a_failed_opportunistic_handshake_is_retried_in_clear(certs: Certificates) -> None:
    """RFC 7435: opportunistic TLS must not make mail undeliverable; a new session in clear."""
    context = certs.server_context(MX_HOST)
    async with serve_sink(tls_context=context, broken_tls=True) as sink:
        result = await send(relay(sink.port))
        required = await send(relay(sink.port, certs.client_context()), tls_required=True)
    assert (result[BOB].outcome, result[BOB].tls) == (Outcome.SENT, "")
    assert (required[BOB].outcome, required[BOB].status) == (Outcome.TEMPORARY, "4.7.5")
    assert [m.tls for m in sink.handler.messages] == [False]


async def test_tls_required_without_starttls_is_deferred_and_nothing_is_sent() -> None:
    async with serve_sink() as sink:
        result = await send(relay(sink.port), tls_required=True)
    assert (result[BOB].outcome, result[BOB].status) == (Outcome.TEMPORARY, "4.7.4")
    assert sink.handler.mail_commands == 0 and sink.handler.messages == []


async def test_tls_required_with_an_untrusted_certificate_is_deferred(certs: Certificates) -> None:
    async with serve_sink(tls_context=certs.server_context(MX_HOST)) as sink:
        result = await send(relay(sink.port), tls_required=True)  # system trust store only
    assert (result[BOB].outcome, result[BOB].status) == (Outcome.TEMPORARY, "4.7.5")
    assert "certificate" in result[BOB].text.lower()
    assert sink.handler.mail_commands == 0 and sink.handler.messages == []


async def test_tls_required_with_a_certificate_for_another_name_is_deferred(
    certs: Certificates,
) -> None:
    async with serve_sink(tls_context=certs.server_context("other.example")) as sink:
        result = await send(relay(sink.port, certs.client_context()), tls_required=True)
    assert (result[BOB].outcome, result[BOB].status) == (Outcome.TEMPORARY, "4.7.5")
    assert sink.handler.messages == []


async def test_tls_required_with_a_verified_certificate_is_sent(certs: Certificates) -> None:
    async with serve_sink(tls_context=certs.server_context(MX_HOST)) as sink:
        result = await send(relay(sink.port, certs.client_context()), tls_required=True)
    assert result[BOB].outcome is Outcome.SENT
    assert [m.tls for m in sink.handler.messages] == [True]


async def test_each_recipient_gets_its_own_reply() -> None:
    handler = SinkHandler(rcpt_reply=lambda r: "550 5.1.1 no such user" if r == CAROL else None)
    async with serve_sink(handler) as sink:
        result = await send(relay(sink.port), BOB, CAROL)
    assert result[BOB].outcome is Outcome.SENT
    assert (result[CAROL].outcome, result[CAROL].status) == (Outcome.PERMANENT, "5.1.1")
    assert [m.rcpt_tos for m in handler.messages] == [[BOB]]


async def test_data_refusal_applies_to_every_accepted_recipient() -> None:
    handler = SinkHandler(data_replies=["554 5.7.1 message refused"])
    async with serve_sink(handler) as sink:
        result = await send(relay(sink.port), BOB, CAROL)
    assert {r: s.status for r, s in result.items()} == {BOB: "5.7.1", CAROL: "5.7.1"}
    assert result[BOB].diagnostic == "554 5.7.1 message refused"


async def test_unreachable_first_mx_falls_back_to_the_next() -> None:
    """127.0.0.2 is loopback too, but nothing listens there on the sink's port."""
    resolver = StaticResolver(
        mx_records={REMOTE: [MxRecord(10, "down.remote.test"), MxRecord(20, MX_HOST)]},
        addresses={"down.remote.test": ["127.0.0.2"], MX_HOST: ["127.0.0.1"]},
    )
    async with serve_sink() as sink:
        r = relay(sink.port)
        r.resolver = resolver
        result = await send(r)
    assert (result[BOB].outcome, result[BOB].remote_host) == (Outcome.SENT, MX_HOST)


async def test_no_server_at_all_is_temporary() -> None:
    async with serve_sink() as sink:
        port = sink.port
    result = await send(relay(port))  # the sink is gone: connection refused
    assert (result[BOB].outcome, result[BOB].status) == (Outcome.TEMPORARY, "4.4.1")


async def test_size_limit_announced_by_the_remote_bounces_without_sending() -> None:
    """RFC 1870: a message larger than the host's SIZE is refused before MAIL is sent."""
    handler = SinkHandler()
    async with serve_sink(handler, size_limit=2000) as sink:
        big = await send_raw(relay(sink.port), message(body="line of text\r\n" * 200))
        small = await send_raw(relay(sink.port), message())
    assert (big[BOB].outcome, big[BOB].status) == (Outcome.PERMANENT, "5.3.4")
    assert small[BOB].outcome is Outcome.SENT
    assert handler.mail_commands == 1 and len(handler.messages) == 1


async def send_raw(r: Relay, raw: bytes) -> dict[str, DeliveryStatus]:
    return await r.deliver(REMOTE, Transaction(SENDER, (BOB,), raw), tls_required=False)


async def test_smarthost_with_auth_over_starttls(certs: Certificates) -> None:
    handler = SinkHandler()
    context = certs.server_context("localhost")
    async with serve_sink(handler, tls_context=context, auth=True) as sink:
        r = relay(
            0,
            certs.client_context(),
            smarthost=f"localhost:{sink.port}",
            smarthost_username="relayuser",
            smarthost_password="relay secret",
        )
        r.resolver = StaticResolver()  # no DNS needed: the smarthost takes everything
        result = await send(r)
    assert result[BOB].outcome is Outcome.SENT
    assert handler.logins == [("relayuser", "relay secret", True)]
    assert [(m.tls, m.login) for m in handler.messages] == [(True, "relayuser")]


async def test_smarthost_credentials_never_cross_a_clear_connection() -> None:
    handler = SinkHandler()
    async with serve_sink(handler, auth=True) as sink:  # offers AUTH, no STARTTLS
        r = relay(
            0,
            smarthost=f"127.0.0.1:{sink.port}",
            smarthost_username="relayuser",
            smarthost_password="relay secret",
        )
        result = await send(r)
    assert (result[BOB].outcome, result[BOB].status) == (Outcome.TEMPORARY, "4.7.4")
    assert handler.logins == [] and handler.messages == []


async def test_smarthost_refusing_credentials_defers(certs: Certificates) -> None:
    handler = SinkHandler()
    async with serve_sink(
        handler, tls_context=certs.server_context("localhost"), auth=True
    ) as sink:
        r = relay(
            0,
            certs.client_context(),
            smarthost=f"localhost:{sink.port}",
            smarthost_username="relayuser",
            smarthost_password="wrong",
        )
        result = await send(r)
    assert (result[BOB].outcome, result[BOB].status) == (Outcome.TEMPORARY, "4.7.0")
    assert handler.messages == []
