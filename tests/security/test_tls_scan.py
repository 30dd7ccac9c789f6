"""TLS scan of every listener of a live server (sslyze): only TLS 1.2 and 1.3, only forward-secret
AEAD suites (Mozilla "intermediate"), no compression; a renewed certificate is served to new
connections without a restart; and text pipelined behind STARTTLS/STLS is never executed.

The web listener speaks plain HTTP (TLS is a fronting proxy's job: http.secure_cookies), so it
is not scanned here; every mail listener is."""

import asyncio
import re
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from sslyze.connection_helpers.opportunistic_tls_helpers import ProtocolWithOpportunisticTlsEnum
from sslyze.plugins.scan_commands import ScanCommand
from sslyze.scanner.models import ServerScanRequest, ServerScanResult, ServerScanStatusEnum
from sslyze.scanner.scanner import Scanner
from sslyze.server_setting import ServerNetworkConfiguration, ServerNetworkLocation

from tests.e2e import conftest as e2e
from tests.e2e.conftest import HOST, Running

ca = e2e.ca  # the live server's fixtures: a test CA, and a server on 127.0.0.1:0
running = e2e.running

STARTTLS = {
    "smtp": ProtocolWithOpportunisticTlsEnum.SMTP,
    "submission": ProtocolWithOpportunisticTlsEnum.SMTP,
    "imap": ProtocolWithOpportunisticTlsEnum.IMAP,
    "pop3": ProtocolWithOpportunisticTlsEnum.POP3,
}
IMPLICIT = ("submissions", "imaps", "pop3s")
LISTENERS = (*STARTTLS, *IMPLICIT)
REFUSED = (
    ScanCommand.SSL_2_0_CIPHER_SUITES,
    ScanCommand.SSL_3_0_CIPHER_SUITES,
    ScanCommand.TLS_1_0_CIPHER_SUITES,
    ScanCommand.TLS_1_1_CIPHER_SUITES,
)
ACCEPTED = (ScanCommand.TLS_1_2_CIPHER_SUITES, ScanCommand.TLS_1_3_CIPHER_SUITES)
# A suite is acceptable when it is forward secret (ECDHE/DHE, or TLS 1.3) and AEAD.
GOOD_SUITE = re.compile(
    r"^(TLS_(AES|CHACHA20)_\w+|TLS_(ECDHE|DHE)_\w+_WITH_\w+_(GCM|POLY1305)_\w+)$"
)
WEAK_WORDS = ("RC4", "3DES", "DES_", "NULL", "EXPORT", "anon", "CBC", "MD5", "SHA1")


def scan(port: int, listener: str) -> ServerScanResult:
    """One sslyze scan of 127.0.0.1:port (after STARTTLS/STLS where the listener needs it)."""
    config = ServerNetworkConfiguration(
        tls_server_name_indication=HOST,
        tls_opportunistic_encryption=STARTTLS.get(listener),
    )
    request = ServerScanRequest(
        server_location=ServerNetworkLocation("127.0.0.1", port, ip_address="127.0.0.1"),
        network_configuration=config,
        scan_commands={*REFUSED, *ACCEPTED, ScanCommand.TLS_COMPRESSION},
    )
    scanner = Scanner()
    scanner.queue_scans([request])
    (result,) = list(scanner.get_results())
    assert result.scan_status is ServerScanStatusEnum.COMPLETED, result.connectivity_error_trace
    return result


def accepted_suites(result: ServerScanResult, command: ScanCommand) -> list[str]:
    assert result.scan_result is not None
    attempt = getattr(result.scan_result, command.value)
    assert attempt.result is not None, attempt.error_trace
    return [suite.cipher_suite.name for suite in attempt.result.accepted_cipher_suites]


@pytest.mark.parametrize("listener", LISTENERS)
async def test_listener_offers_only_modern_tls(running: Running, listener: str) -> None:
    result = await asyncio.to_thread(scan, running.port(listener), listener)
    for command in REFUSED:
        assert accepted_suites(result, command) == [], f"{command.value} accepted"
    tls12 = accepted_suites(result, ScanCommand.TLS_1_2_CIPHER_SUITES)
    tls13 = accepted_suites(result, ScanCommand.TLS_1_3_CIPHER_SUITES)
    assert tls12 and tls13, "TLS 1.2 and 1.3 must both be offered"
    for suite in tls12 + tls13:
        assert GOOD_SUITE.match(suite), f"{suite}: not a forward-secret AEAD suite"
        assert not any(word in suite for word in WEAK_WORDS), suite
    assert result.scan_result is not None
    compression = result.scan_result.tls_compression.result
    assert compression is not None and not compression.supports_compression


def issued_serial(context: ssl.SSLContext, port: int) -> int:
    """The serial number of the certificate a new implicit-TLS connection is shown."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
        context.wrap_socket(sock, server_hostname=HOST) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


async def test_renewed_certificate_is_served_without_restart(
    running: Running, ca: trustme.CA
) -> None:
    cert_file = Path(running.server.settings.smtp.tls_cert_file)
    key_file = Path(running.server.settings.smtp.tls_key_file)
    port = running.port("imaps")
    before = await asyncio.to_thread(issued_serial, running.client_tls, port)
    renewed = ca.issue_cert(HOST, "127.0.0.1", common_name=HOST)
    renewed.private_key_pem.write_to_path(str(key_file))
    renewed.cert_chain_pems[0].write_to_path(str(cert_file))
    for extra in renewed.cert_chain_pems[1:]:
        extra.write_to_path(str(cert_file), append=True)
    after = await asyncio.to_thread(issued_serial, running.client_tls, port)
    expected = x509_serial(renewed.cert_chain_pems[0].bytes())
    assert after != before and after == expected


def x509_serial(pem: bytes) -> int:
    return x509.load_pem_x509_certificate(pem).serial_number


# -- STARTTLS command injection (CVE-2011-0411 class), one per protocol --------------------------


def _pipelined(
    port: int,
    context: ssl.SSLContext,
    greet: Callable[[socket.socket, object], None],
    injection: bytes,
    after: bytes,
) -> bytes:
    """Send `injection` (STARTTLS plus plaintext commands) in one packet, finish the handshake,
    then send `after` inside TLS and return the first line the server answers to it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")
        greet(sock, reader)
        sock.sendall(injection)
        ok = reader.readline()
        assert ok.split()[0] in (b"220", b"+OK", b"a1"), ok
        with context.wrap_socket(sock, server_hostname=HOST) as tls:
            tls_reader = tls.makefile("rb")
            tls.sendall(after)
            return bytes(tls_reader.readline())


def _greet_smtp(sock: socket.socket, reader: object) -> None:
    assert reader.readline().startswith(b"220")  # type: ignore[attr-defined]
    sock.sendall(b"EHLO attacker.example\r\n")
    while not reader.readline().startswith(b"250 "):  # type: ignore[attr-defined]
        pass


def _greet_line(sock: socket.socket, reader: object) -> None:
    assert reader.readline()  # type: ignore[attr-defined]


async def test_starttls_command_injection_is_rejected_smtp(running: Running) -> None:
    """After STARTTLS the session restarts: had the pipelined EHLO and MAIL run, this MAIL
    would be a nested MAIL; they were discarded, so the server still wants EHLO first."""
    reply = await asyncio.to_thread(
        _pipelined,
        running.port("submission"),
        running.client_tls,
        _greet_smtp,
        b"STARTTLS\r\nEHLO injected.example\r\nMAIL FROM:<injected@attacker.example>\r\n",
        b"MAIL FROM:<after@attacker.example>\r\n",
    )
    assert reply.startswith(b"503"), reply


async def test_starttls_command_injection_is_rejected_imap(running: Running) -> None:
    """A pipelined `a2 LOGIN` sent in clear must not be answered inside TLS: the first tagged
    reply the client sees after the handshake belongs to the command it sent in TLS."""
    address = f"alice@{HOST.split('.', 1)[1]}"
    reply = await asyncio.to_thread(
        _pipelined,
        running.port("imap"),
        running.client_tls,
        _greet_line,
        b'a1 STARTTLS\r\na2 LOGIN "' + address.encode() + b'" "x"\r\na3 NOOP\r\n',
        b"b1 CAPABILITY\r\n",
    )
    assert reply.startswith(b"* CAPABILITY"), reply


async def test_starttls_command_injection_is_rejected_pop3(running: Running) -> None:
    """`STLS` followed by a pipelined `USER`: inside TLS, PASS must not find a user given."""
    reply = await asyncio.to_thread(
        _pipelined,
        running.port("pop3"),
        running.client_tls,
        _greet_line,
        b"STLS\r\nUSER alice@polres.co.uk\r\n",
        b"PASS wrong-password\r\n",
    )
    assert reply.startswith(b"-ERR"), reply
    assert b"USER first" in reply or b"USER" in reply, reply
