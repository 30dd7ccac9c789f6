"""AccessContext: who is calling a service, over which channel, from where."""

from dataclasses import dataclass

from securemail.core.rights import Principal, Role


@dataclass(frozen=True, slots=True)
class AccessContext:
    """The first parameter of every service method; built only by the auth service or the CLI."""

    user_id: int
    org_id: int | None
    role: Role
    address: str
    channel: str = "cli"
    remote: str = ""

    @property
    def principal(self) -> Principal:
        return Principal(user_id=self.user_id, org_id=self.org_id, role=self.role)


SYSTEM_ADDRESS = "system"


def system_context(channel: str = "cli") -> AccessContext:
    """The operator at the console: acts as service administrator; user id 0 owns nothing."""
    return AccessContext(
        user_id=0, org_id=None, role=Role.SERVICE_ADMIN, address=SYSTEM_ADDRESS, channel=channel
    )
