"""TLS server contexts (TLS 1.2 and newer only, certificate re-read when its files change) and a
self-signed certificate on first start."""

import datetime
import ipaddress
import logging
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

log = logging.getLogger(__name__)


# Mozilla's "intermediate" TLS 1.2 suites: forward secret AEAD only (no CBC, SHA-1, RSA key
# exchange, RC4, 3DES, NULL, EXPORT or anonymous suites). TLS 1.3 suites are all AEAD.
TLS12_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
)


def _context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.load_cert_chain(str(cert_file), str(key_file))
    return ctx


def server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """A server context: TLS 1.2+, AEAD suites, no compression. Each handshake checks the
    certificate and key files; once they change (a renewal), new connections get the new ones
    without a restart. A half-written pair is ignored until it loads."""
    ctx = _context(cert_file, key_file)
    ctx.sni_callback = _Reloader(cert_file, key_file, ctx).on_hello
    return ctx


class _Reloader:
    """Swaps in a context with the current certificate when the files' mtimes change."""

    def __init__(self, cert_file: Path, key_file: Path, ctx: ssl.SSLContext) -> None:
        self.files = (cert_file, key_file)
        self.current = ctx
        self.stamp = self._stamp()

    def _stamp(self) -> tuple[int, ...]:
        try:
            return tuple(n for f in self.files for n in (f.stat().st_mtime_ns, f.stat().st_size))
        except OSError:
            return ()

    def on_hello(self, conn: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: object) -> None:
        stamp = self._stamp()
        if stamp and stamp != self.stamp:
            try:
                self.current = _context(*self.files)
                self.stamp = stamp
                log.info("reloaded the TLS certificate from %s", self.files[0])
            except (OSError, ssl.SSLError, ValueError) as exc:
                log.warning("kept the old TLS certificate: %s: %s", self.files[0], exc)
        if self.current is not conn.context:
            conn.context = self.current


def ensure_self_signed(directory: Path, hostname: str) -> tuple[Path, Path]:
    """Make (once) a self-signed ECDSA P-256 certificate for `hostname` in `directory`."""
    cert_file, key_file = directory / "selfsigned.crt", directory / "selfsigned.key"
    if cert_file.exists() and key_file.exists():
        return cert_file, key_file
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    alt: list[x509.GeneralName] = [x509.DNSName(hostname)]
    alt.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .sign(key, hashes.SHA256())
    )
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    log.warning("generated a self-signed TLS certificate for %s in %s", hostname, cert_file)
    return cert_file, key_file
