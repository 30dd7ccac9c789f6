"""All services built over one set of dependencies."""

from dataclasses import dataclass

from securemail.services.accounts import AccountAdminService
from securemail.services.api_tokens import ApiTokenService
from securemail.services.audit import AuditService
from securemail.services.auth import AuthService
from securemail.services.base import Deps
from securemail.services.credentials import CredentialService
from securemail.services.delivery import DeliveryService
from securemail.services.directory import DirectoryService
from securemail.services.drafts import DraftService
from securemail.services.groups import GroupAdminService
from securemail.services.mailboxes import MailboxService
from securemail.services.maildrop import MaildropService
from securemail.services.messages import MessageService
from securemail.services.org_policy import OrgPolicyService
from securemail.services.policy import PolicyService
from securemail.services.queue import QueueService
from securemail.services.sessions import SessionService
from securemail.services.sharing import SharingService
from securemail.services.submission import SubmissionService


@dataclass
class Services:
    deps: Deps
    auth: AuthService
    directory: DirectoryService
    sharing: SharingService
    mailboxes: MailboxService
    messages: MessageService
    delivery: DeliveryService
    audit: AuditService
    submission: SubmissionService
    queue: QueueService
    policy: PolicyService
    org_policy: OrgPolicyService
    maildrop: MaildropService
    credentials: CredentialService
    sessions: SessionService
    drafts: DraftService
    groups: GroupAdminService
    api_tokens: ApiTokenService
    accounts: AccountAdminService

    @classmethod
    def build(cls, deps: Deps) -> "Services":
        auth = AuthService(deps)
        return cls(
            deps=deps,
            auth=auth,
            directory=DirectoryService(deps),
            sharing=SharingService(deps),
            mailboxes=MailboxService(deps),
            messages=MessageService(deps),
            delivery=DeliveryService(deps),
            audit=AuditService(deps),
            submission=SubmissionService(deps),
            queue=QueueService(deps),
            policy=PolicyService(deps),
            org_policy=OrgPolicyService(deps),
            maildrop=MaildropService(deps),
            credentials=CredentialService(deps),
            sessions=SessionService(deps, auth),
            drafts=DraftService(deps),
            groups=GroupAdminService(deps),
            api_tokens=ApiTokenService(deps),
            accounts=AccountAdminService(deps),
        )
