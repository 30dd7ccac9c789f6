"""Group a folder's messages into conversations by Message-ID, In-Reply-To and References
(RFC 5322 section 3.6.4).

Pure and bounded: identifiers are taken only from `<...>` tokens, each message contributes at
most MAX_REFERENCES of them, and the grouping is a union-find, so cycles (A refers to B, B to A)
and garbage can neither loop nor raise.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

MAX_REFERENCES = 100  # message identifiers kept per message: the first one and the newest ones
MAX_MESSAGE_ID = 250  # characters inside the angle brackets

# RFC 5322 section 3.6.4 msg-id, read leniently: "<" printable ASCII without "<" or ">" ">".
# (id-left "@" id-right is what the RFC asks for; old mailers omit the "@", threads still work.)
_MSG_ID = re.compile(rf"<[!-;=?-~]{{1,{MAX_MESSAGE_ID}}}>")
_BARE_ID = re.compile(rf"[!-;=?-~]{{1,{MAX_MESSAGE_ID}}}")

Row = tuple[int, str, str, str]  # (id, message_id, in_reply_to, references)


def message_id_tokens(text: str, *, limit: int = MAX_REFERENCES) -> list[str]:
    """The distinct `<msg-id>` tokens of a Message-ID, In-Reply-To or References field, in
    order; beyond `limit`, the first one (the thread's start) and the newest ones are kept."""
    seen: dict[str, None] = {}
    for match in _MSG_ID.finditer(text):
        seen.setdefault(match.group(), None)
    tokens = list(seen)
    if len(tokens) > limit:
        keep = max(limit, 0)
        tokens = tokens[:1] + tokens[len(tokens) - keep + 1 :] if keep > 1 else tokens[:keep]
    return tokens


def own_message_id(text: str) -> str:
    """The message's own identifier: its first `<msg-id>`, or a bare `id@host` in brackets."""
    tokens = message_id_tokens(text, limit=1)
    if tokens:
        return tokens[0]
    bare = text.strip()
    return f"<{bare}>" if "@" in bare and _BARE_ID.fullmatch(bare) else ""


class _UnionFind:
    """Disjoint sets over 0..n-1 plus one node per Message-ID, added as they are met."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size))
        self.ids: dict[str, int] = {}

    def node(self, message_id: str) -> int:
        if message_id not in self.ids:
            self.ids[message_id] = len(self.parent)
            self.parent.append(len(self.parent))
        return self.ids[message_id]

    def find(self, node: int) -> int:
        parent = self.parent
        while parent[node] != node:  # path halving: iterative, never recursive
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def union(self, a: int, b: int) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            self.parent[root_b] = root_a


@dataclass(frozen=True, slots=True)
class _Message:
    row: int
    position: int
    own: str
    ancestors: tuple[str, ...]  # oldest first, as in References (RFC 5322 section 3.6.4)


def _messages(rows: Sequence[Row]) -> list[_Message]:
    out: list[_Message] = []
    seen: set[int] = set()
    for position, (row, message_id, in_reply_to, references) in enumerate(rows):
        if row in seen:
            continue
        seen.add(row)
        own = own_message_id(message_id)
        ancestors = message_id_tokens(f"{references} {in_reply_to}")
        out.append(_Message(row, position, own, tuple(a for a in ancestors if a != own)))
    return out


def _components(messages: list[_Message]) -> list[list[_Message]]:
    """Messages linked by a shared identifier (their own or an ancestor's), in input order."""
    forest = _UnionFind(len(messages))
    for index, message in enumerate(messages):
        for message_id in (message.own, *message.ancestors):
            if message_id:
                forest.union(index, forest.node(message_id))
    groups: dict[int, list[_Message]] = {}
    for index, message in enumerate(messages):
        groups.setdefault(forest.find(index), []).append(message)
    return list(groups.values())


def _root(members: list[_Message]) -> int:
    """The member none of whose ancestors is present; among several (siblings of an absent
    parent) or none (a cycle), the one with the fewest ancestors, then the oldest (last in
    the newest-first input)."""
    present = {m.own for m in members if m.own}
    tops = [m for m in members if not any(a in present for a in m.ancestors)]
    candidates = tops or members
    best = min(candidates, key=lambda m: (len(m.ancestors), -m.position))
    return best.row


def thread_roots(messages: Sequence[Row]) -> dict[int, int]:
    """Map each message id to the id of its thread's root message within `messages`.

    `messages` holds (id, message_id, in_reply_to, references) rows. Messages join one
    thread when one is an ancestor of the other or when they share an ancestor, even one
    absent from the input; a message with no links is its own root.
    """
    roots: dict[int, int] = {}
    for members in _components(_messages(messages)):
        root = _root(members)
        for member in members:
            roots[member.row] = root
    return roots


def group_threads(messages: Sequence[Row]) -> list[list[int]]:
    """Threads as lists of ids: ordered by where each thread's first member appears in the
    (newest first) input, members in input order, each id once."""
    roots = thread_roots(messages)
    threads: dict[int, list[int]] = {}
    seen: set[int] = set()
    for row, *_fields in messages:
        if row not in seen:
            seen.add(row)
            threads.setdefault(roots[row], []).append(row)
    return list(threads.values())
