"""The demo organisation: the reference scenario of a research institute's enquiry team."""

from dataclasses import dataclass

from securemail.core.context import AccessContext
from securemail.core.errors import Conflict
from securemail.core.rights import parse_rights
from securemail.security.secrets import generate_password
from securemail.services.registry import Services

DEMO_ORG = "Police Research Institute"
DEMO_DOMAIN = "polres.co.uk"
DEMO_GROUP = "GM.ZeroTolerance@polres.co.uk"
DEMO_GROUP_NAME = "Zero Tolerance Policing enquiries"
DEMO_STAFF = ("alice", "bob", "carol", "dave", "erin")
DEMO_GRANTS = {
    "alice": "read",
    "bob": "read,write",
    "carol": "read,mail",
    "dave": "read,write,mail,delete,manage",
}
DEMO_ENQUIRY = (
    b"From: Dr Jane Smith <jane.smith@university.example>\r\n"
    b"To: Zero Tolerance Policing enquiries <GM.ZeroTolerance@polres.co.uk>\r\n"
    b"Subject: Enquiry: zero tolerance policing evaluation data\r\n"
    b"Date: Thu, 26 Nov 2026 09:15:00 +0000\r\n"
    b"Message-ID: <enquiry-0001@university.example>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Dear team,\r\n\r\nCould you share the evaluation data of the 2025 pilot?\r\n\r\nJane\r\n"
)


@dataclass(frozen=True)
class DemoResult:
    created: bool
    passwords: dict[str, str]


async def load_demo(services: Services, ctx: AccessContext) -> DemoResult:
    """Create the demo organisation once; a second call changes nothing and says so."""
    try:
        await services.directory.create_org(ctx, DEMO_ORG, DEMO_DOMAIN)
    except Conflict:
        return DemoResult(created=False, passwords={})
    passwords: dict[str, str] = {}
    people = [("admin", "Administrator", True)] + [(n, n.capitalize(), False) for n in DEMO_STAFF]
    for name, display, admin in people:
        password = generate_password()
        user, _ = await services.directory.create_user(
            ctx, f"{name}@{DEMO_DOMAIN}", display_name=display, admin=admin, password=password
        )
        passwords[user.address] = password
    await services.directory.create_group(ctx, DEMO_GROUP, DEMO_GROUP_NAME)
    for name, rights in DEMO_GRANTS.items():
        await services.sharing.grant(ctx, DEMO_GROUP, f"{name}@{DEMO_DOMAIN}", parse_rights(rights))
    await services.delivery.deliver(ctx, DEMO_ENQUIRY, [DEMO_GROUP])
    return DemoResult(created=True, passwords=passwords)
