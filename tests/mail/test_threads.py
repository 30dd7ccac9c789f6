"""mail.threads: conversations by References / In-Reply-To (RFC 5322 section 3.6.4); cycles and
garbage neither loop nor raise."""

from hypothesis import given, settings
from hypothesis import strategies as st

from securemail.mail.threads import (
    MAX_REFERENCES,
    group_threads,
    message_id_tokens,
    own_message_id,
    thread_roots,
)

Row = tuple[int, str, str, str]


def test_linear_conversation_roots_at_the_first_message() -> None:
    rows: list[Row] = [  # newest first, as a folder page is listed
        (3, "<c@x>", "<b@x>", "<a@x> <b@x>"),
        (2, "<b@x>", "<a@x>", "<a@x>"),
        (1, "<a@x>", "", ""),
    ]
    assert thread_roots(rows) == {3: 1, 2: 1, 1: 1}
    assert group_threads(rows) == [[3, 2, 1]]


def test_in_reply_to_alone_links_a_reply() -> None:
    rows: list[Row] = [(2, "<b@x>", "<a@x>", ""), (1, "<a@x>", "", "")]
    assert thread_roots(rows) == {2: 1, 1: 1}


def test_truncated_references_still_find_the_earliest_present_ancestor() -> None:
    # 3 only names its parent 2; 2 names 1: the root is 1, not 2
    rows: list[Row] = [
        (3, "<c@x>", "<b@x>", "<b@x>"),
        (2, "<b@x>", "", "<a@x>"),
        (1, "<a@x>", "", ""),
    ]
    assert set(thread_roots(rows).values()) == {1}


def test_absent_root_the_present_ancestor_is_the_root() -> None:
    rows: list[Row] = [(3, "<c@x>", "<b@x>", "<a@x> <b@x>"), (2, "<b@x>", "<a@x>", "<a@x>")]
    assert thread_roots(rows) == {3: 2, 2: 2}


def test_siblings_of_an_absent_parent_join_under_the_oldest() -> None:
    rows: list[Row] = [
        (7, "<r2@x>", "<gone@x>", "<gone@x>"),
        (5, "<other@x>", "", ""),
        (4, "<r1@x>", "<gone@x>", "<gone@x>"),
    ]
    assert thread_roots(rows) == {7: 4, 5: 5, 4: 4}
    assert group_threads(rows) == [[7, 4], [5]]


def test_shared_distant_ancestor_joins_threads() -> None:
    rows: list[Row] = [
        (2, "<y@x>", "<p2@x>", "<start@x> <p2@x>"),
        (1, "<x@x>", "<p1@x>", "<start@x> <p1@x>"),
    ]
    assert group_threads(rows) == [[2, 1]]
    assert thread_roots(rows) == {2: 1, 1: 1}


def test_unrelated_messages_are_their_own_roots() -> None:
    rows: list[Row] = [(3, "<c@x>", "", ""), (2, "<b@x>", "", ""), (1, "", "", "")]
    assert thread_roots(rows) == {3: 3, 2: 2, 1: 1}
    assert group_threads(rows) == [[3], [2], [1]]


def test_threads_ordered_by_newest_member_members_in_input_order() -> None:
    rows: list[Row] = [
        (10, "<a3@x>", "<a2@x>", "<a1@x> <a2@x>"),  # newest: a reply in thread A
        (9, "<b1@x>", "", ""),
        (8, "<a2@x>", "<a1@x>", "<a1@x>"),
        (7, "<c2@x>", "<c1@x>", "<c1@x>"),
        (6, "<b2@x>", "<b1@x>", "<b1@x>"),  # a reply listed after its parent: kept in input order
        (5, "<a1@x>", "", ""),
        (4, "<c1@x>", "", ""),
    ]
    assert group_threads(rows) == [[10, 8, 5], [9, 6], [7, 4]]
    assert thread_roots(rows) == {10: 5, 8: 5, 5: 5, 9: 9, 6: 9, 7: 4, 4: 4}


def test_self_reference_two_cycle_and_three_cycle_terminate() -> None:
    rows: list[Row] = [
        (1, "<s@x>", "<s@x>", "<s@x>"),
        (2, "<a@x>", "<b@x>", "<b@x>"),
        (3, "<b@x>", "<a@x>", "<a@x>"),
        (4, "<p@x>", "<r@x>", "<q@x> <r@x>"),
        (5, "<q@x>", "<p@x>", "<r@x> <p@x>"),
        (6, "<r@x>", "<q@x>", "<p@x> <q@x>"),
    ]
    roots = thread_roots(rows)
    assert roots[1] == 1
    assert roots[2] == roots[3] == 3  # a cycle: the oldest of the equally linked
    assert roots[4] == roots[5] == roots[6] in (4, 5, 6)
    assert group_threads(rows) == [[1], [2, 3], [4, 5, 6]]


def test_duplicate_message_ids_and_rows() -> None:
    rows: list[Row] = [
        (2, "<same@x>", "", ""),  # e.g. the Sent copy and the delivered copy in one view
        (1, "<same@x>", "", ""),
        (2, "<same@x>", "", ""),
    ]
    assert thread_roots(rows) == {2: 1, 1: 1}
    assert group_threads(rows) == [[2, 1]]


def test_garbage_fields_do_not_join_or_raise() -> None:
    rows: list[Row] = [
        (1, "", "your message of Tuesday", "garbage < > <>"),
        (2, "not an id", "your message of Tuesday", "garbage"),
        (3, "\0\r\n", "<<<", ">>>"),
        (4, "bare@host.example", "", ""),
        (5, "<reply@x>", "<bare@host.example>", ""),
    ]
    assert thread_roots(rows) == {1: 1, 2: 2, 3: 3, 4: 4, 5: 4}


def test_empty_input() -> None:
    assert thread_roots([]) == {}
    assert group_threads([]) == []


def test_long_chain_does_not_recurse() -> None:
    n = 5_000  # far beyond the recursion limit
    rows: list[Row] = [(i, f"<m{i}@x>", f"<m{i - 1}@x>" if i else "", "") for i in range(n)]
    rows.reverse()
    roots = thread_roots(rows)
    assert set(roots.values()) == {0}
    assert group_threads(rows) == [[r[0] for r in rows]]


def test_message_id_tokens_keep_the_first_and_the_newest() -> None:
    text = " ".join(f"<{i}@x>" for i in range(MAX_REFERENCES + 50))
    tokens = message_id_tokens(text)
    assert len(tokens) == MAX_REFERENCES
    assert tokens[0] == "<0@x>"
    assert tokens[1] == f"<{50 + 1}@x>"
    assert tokens[-1] == f"<{MAX_REFERENCES + 49}@x>"
    assert message_id_tokens("<a@b> x <c@d> <a@b> <bad id> <>") == ["<a@b>", "<c@d>"]


def test_own_message_id() -> None:
    assert own_message_id(" <a@b> ") == "<a@b>"
    assert own_message_id("a@b") == "<a@b>"
    assert own_message_id("not an id") == ""
    assert own_message_id("") == ""


IDS = st.sampled_from(["<a@x>", "<b@x>", "<c@x>", "<d@x>", "junk", "", "<", "a@x"])
ROWS = st.lists(
    st.tuples(
        st.integers(0, 30),
        IDS,
        IDS,
        st.lists(IDS, max_size=4).map(" ".join),
    ),
    max_size=25,
)


@settings(deadline=None)
@given(ROWS)
def test_roots_and_groups_are_consistent(rows: list[Row]) -> None:
    roots = thread_roots(rows)
    ids = list(dict.fromkeys(r[0] for r in rows))
    assert set(roots) == set(ids)
    for root in roots.values():
        assert roots[root] == root  # a root is its own root
    groups = group_threads(rows)
    assert [i for g in groups for i in g] != [] or not rows
    assert sorted(i for g in groups for i in g) == sorted(ids)
    for group in groups:
        assert len({roots[i] for i in group}) == 1
        assert group == sorted(group, key=ids.index)
    assert [g[0] for g in groups] == sorted((g[0] for g in groups), key=ids.index)


@settings(deadline=None)
@given(st.lists(st.tuples(st.integers(), st.text(), st.text(), st.text()), max_size=20))
def test_any_text_never_raises(rows: list[Row]) -> None:
    group_threads(rows)
