"""A real securemail server in the test's event loop, every listener on 127.0.0.1:0, with a
test CA's certificate (trustme) so clients verify TLS as they would in production."""

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from securemail.config import load_settings
from securemail.core.context import system_context
from securemail.net.dns import StaticResolver
from securemail.server import Server
from securemail.services.demo import DemoResult, load_demo
from tests.conftest import TestStore

HOST = "mail.polres.test"


@dataclass
class Running:
    server: Server
    demo: DemoResult
    client_tls: ssl.SSLContext
    ca_file: Path
    resolver: StaticResolver

    def port(self, name: str) -> int:
        return self.server.ports[name]


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


def listener_env(store: TestStore, ca: trustme.CA, tmp: Path) -> dict[str, str]:
    cert = ca.issue_cert(HOST, "127.0.0.1", common_name=HOST)  # fetchmail wants a CN
    cert_file, key_file = tmp / "server.pem", tmp / "server.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(cert_file), append=True)
    cert.private_key_pem.write_to_path(str(key_file))
    env = dict(store.env)
    for key in ("SMTP_PORT", "SMTP_SUBMISSION_PORT", "SMTP_SUBMISSIONS_PORT", "HTTP_PORT"):
        env[f"SECUREMAIL_{key}"] = "0"
    for key in ("POP3_PORT", "POP3_TLS_PORT", "IMAP_PORT", "IMAP_TLS_PORT"):
        env[f"SECUREMAIL_{key}"] = "0"
    env.update(
        SECUREMAIL_SERVER_HOSTNAME=HOST,
        SECUREMAIL_SMTP_TLS_CERT_FILE=str(cert_file),
        SECUREMAIL_SMTP_TLS_KEY_FILE=str(key_file),
    )
    return env


@pytest.fixture
async def running(store: TestStore, ca: trustme.CA, tmp_path: Path) -> AsyncIterator[Running]:
    settings = load_settings(env=listener_env(store, ca, tmp_path))
    resolver = StaticResolver(txt_records={})  # DNS answers from a table the test fills
    server = Server(settings, resolver=resolver)
    await server.start()
    demo = await load_demo(server.runtime.services, system_context("test"))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    try:
        yield Running(server, demo, client, ca_file, resolver)
    finally:
        await server.stop(grace=2)
