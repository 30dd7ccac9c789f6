"""Mail-client autoconfiguration served by the web app (httpx against the ASGI app)."""

import xml.etree.ElementTree as ET

import httpx

from securemail.core.context import AccessContext
from securemail.services.demo import load_demo
from securemail.services.registry import Services
from securemail.web.app import create_app


async def _get(services: Services, url: str, host: str = "mail.polres.co.uk") -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as client:
        return await client.get(url)


async def test_autoconfig_lists_the_endpoints(services: Services, system: AccessContext):
    await load_demo(services, system)
    response = await _get(
        services, "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice@polres.co.uk"
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.content)
    servers = [
        (s.get("type"), s.findtext("port"), s.findtext("socketType"))
        for s in root.iter()
        if s.tag in ("incomingServer", "outgoingServer")
    ]
    settings = services.deps.settings
    assert ("imap", str(settings.imap.tls_port), "SSL") in servers
    assert ("pop3", str(settings.pop3.tls_port), "SSL") in servers
    assert ("smtp", str(settings.smtp.submission_port), "STARTTLS") in servers
    assert root.find("emailProvider/domain").text == "polres.co.uk"  # type: ignore[union-attr]


async def test_autoconfig_host_form_and_unknown_domains(services: Services, system: AccessContext):
    await load_demo(services, system)
    by_host = await _get(services, "/mail/config-v1.1.xml", host="autoconfig.polres.co.uk")
    assert by_host.status_code == 200 and b"polres.co.uk" in by_host.content
    for query in ("emailaddress=jane@elsewhere.example", "emailaddress=<script>@x"):
        refused = await _get(services, f"/.well-known/autoconfig/mail/config-v1.1.xml?{query}")
        assert refused.status_code == 404
