"""IMAP sequence and UID sets over a session's view (RFC 3501 6.4.5, 6.4.8): which messages
a FETCH, STORE or COPY acts on, for any set of ranges and any UIDs a folder may hold."""

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from securemail.core.model import Flag, Folder, Mailbox, MessageSummary
from securemail.core.rights import MailboxKind
from securemail.protocols.imap.view import View
from securemail.wire.imap.parser import SequenceSet

MAILBOX = Mailbox(1, 1, MailboxKind.PERSONAL, "a@example.test", "A", 1, False)
FOLDER = Folder(1, 1, "INBOX", None, 1, 1, 1)
WHEN = datetime(2026, 11, 28, tzinfo=UTC)


def _summary(uid: int) -> MessageSummary:
    return MessageSummary(
        id=uid, folder_id=1, uid=uid, modseq=1, flags=Flag.NONE, keywords=(), seen=False,
        internal_date=WHEN, size=10, from_addr="", to_addrs="", subject="", date=None,
        message_id="", in_reply_to="", references="", has_attachments=False, blob_id=f"b{uid}",
    )  # fmt: skip


def _view(uids: list[int]) -> View:
    view = View(MAILBOX, FOLDER, "INBOX", readonly=True)
    view.load(FOLDER, [_summary(uid) for uid in uids])
    return view


def _expected(uids: list[int], ranges: tuple[tuple[int, int], ...], by_uid: bool) -> list[int]:
    """(The sequence numbers picked,) worked out message by message from the RFC's words."""
    if not uids:
        return []
    largest = uids[-1] if by_uid else len(uids)
    spans = [(min(a or largest, b or largest), max(a or largest, b or largest)) for a, b in ranges]
    named = [(seq, uid if by_uid else seq) for seq, uid in enumerate(uids, 1)]
    return [seq for seq, value in named if any(a <= value <= b for a, b in spans)]


numbers = st.integers(min_value=0, max_value=40)  # 0 stands for "*"


@given(
    uids=st.lists(st.integers(min_value=1, max_value=40), unique=True).map(sorted),
    ranges=st.lists(st.tuples(numbers, numbers), min_size=1, max_size=3).map(tuple),
    by_uid=st.booleans(),
)
def test_the_messages_picked_are_those_the_set_names(
    uids: list[int], ranges: tuple[tuple[int, int], ...], by_uid: bool
) -> None:
    view = _view(uids)
    picked = view.select(SequenceSet(ranges), by_uid)
    assert [seq for seq, _m in picked] == _expected(uids, ranges, by_uid)
    assert all(view.uids[seq - 1] == m.uid for seq, m in picked)


def test_one_range_over_uids_with_gaps() -> None:
    view = _view([2, 5, 9, 14])
    assert [(seq, m.uid) for seq, m in view.select(SequenceSet(((4, 10),)), True)] == [
        (2, 5),
        (3, 9),
    ]
    assert [m.uid for _seq, m in view.select(SequenceSet(((1, 0),)), False)] == [2, 5, 9, 14]
    assert view.select(SequenceSet(((15, 20),)), True) == []
