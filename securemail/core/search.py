"""A protocol-neutral search request: what webmail, the API and IMAP SEARCH all ask for."""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """All given criteria must match (AND). Text matches subject, addresses and body."""

    text: str = ""
    from_addr: str = ""
    to_addr: str = ""
    subject: str = ""
    since: datetime | None = None
    before: datetime | None = None
    unseen: bool | None = None
    has_attachments: bool | None = None

    def terms(self) -> list[str]:
        """The free-text words, each matched on its own."""
        return [t for t in self.text.split() if t]
