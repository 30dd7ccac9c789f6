"""Mail client autoconfiguration (Thunderbird's config-v1.1.xml): IMAP, POP3 and submission
endpoints, so users set up a client by typing only their address."""

import xml.etree.ElementTree as ET

from securemail.config import Settings

NS_VERSION = "1.1"


def _server(parent: ET.Element, tag: str, kind: str, host: str, port: int, socket: str) -> None:
    server = ET.SubElement(parent, tag, {"type": kind})
    for name, value in (
        ("hostname", host),
        ("port", str(port)),
        ("socketType", socket),
        ("authentication", "password-cleartext"),
        ("username", "%EMAILADDRESS%"),
    ):
        ET.SubElement(server, name).text = value


def config_xml(settings: Settings, domain: str) -> bytes:
    """The document for `domain`; every value comes from settings, never from the request
    except the (already validated) domain name."""
    host = settings.server.hostname
    root = ET.Element("clientConfig", {"version": NS_VERSION})
    provider = ET.SubElement(root, "emailProvider", {"id": domain})
    ET.SubElement(provider, "domain").text = domain
    ET.SubElement(provider, "displayName").text = f"securemail ({domain})"
    ET.SubElement(provider, "displayShortName").text = "securemail"
    _server(provider, "incomingServer", "imap", host, settings.imap.tls_port, "SSL")
    _server(provider, "incomingServer", "imap", host, settings.imap.port, "STARTTLS")
    _server(provider, "incomingServer", "pop3", host, settings.pop3.tls_port, "SSL")
    _server(provider, "outgoingServer", "smtp", host, settings.smtp.submissions_port, "SSL")
    _server(provider, "outgoingServer", "smtp", host, settings.smtp.submission_port, "STARTTLS")
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))
