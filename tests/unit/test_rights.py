"""core.rights: the comma-list grammar of rights and the one rule of what a user may do."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from securemail.core.errors import InvalidInput
from securemail.core.rights import (
    ALL_RIGHTS,
    OWNER_RIGHTS,
    RIGHT_NAMES,
    MailboxFacts,
    MailboxKind,
    Principal,
    Right,
    Role,
    effective_rights,
    format_rights,
    may_administer_org,
    may_manage_grants,
    parse_rights,
    rights_from_bits,
)

ORG, OTHER_ORG = 1, 2
ALICE = Principal(user_id=10, org_id=ORG, role=Role.USER)
BOB = Principal(user_id=11, org_id=ORG, role=Role.USER)
ORG_ADMIN = Principal(user_id=12, org_id=ORG, role=Role.ORG_ADMIN)
OTHER_ADMIN = Principal(user_id=13, org_id=OTHER_ORG, role=Role.ORG_ADMIN)
OUTSIDER = Principal(user_id=14, org_id=OTHER_ORG, role=Role.USER)
SERVICE_ADMIN = Principal(user_id=0, org_id=None, role=Role.SERVICE_ADMIN)
GROUP = MailboxFacts(mailbox_id=100, org_id=ORG, kind=MailboxKind.GROUP, owner_user_id=None)
ALICE_BOX = MailboxFacts(mailbox_id=101, org_id=ORG, kind=MailboxKind.PERSONAL, owner_user_id=10)

names = st.sampled_from(sorted(RIGHT_NAMES))


@pytest.mark.parametrize(
    ("text", "rights"),
    [
        ("read", Right.READ),
        ("read,write", Right.READ | Right.WRITE),
        (" Read , MAIL ", Right.READ | Right.MAIL),
        ("manage,delete,read", Right.READ | Right.DELETE | Right.MANAGE),
        ("read,read", Right.READ),
        ("read,write,mail,delete,manage", ALL_RIGHTS),
    ],
)
def test_parse_rights_reads_a_comma_list(text: str, rights: Right) -> None:
    assert parse_rights(text) == rights


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "no rights given"),
        (" , ", "no rights given"),
        ("read,fly", "'fly'"),
        ("admin", "'admin'"),
        ("read;write", "'read;write'"),
        ("read,,write", "''"),
    ],
)
def test_parse_rights_names_what_is_wrong(text: str, complaint: str) -> None:
    with pytest.raises(InvalidInput, match=complaint):
        parse_rights(text)


def test_format_rights_is_canonical() -> None:
    assert format_rights(Right.MANAGE | Right.READ) == "read,manage"
    assert format_rights(ALL_RIGHTS) == "read,write,mail,delete,manage"
    assert format_rights(Right.NONE) == ""


@given(st.lists(names, min_size=1, max_size=8))
def test_rights_round_trip_through_text(words: list[str]) -> None:
    shuffled = [w.upper() if i % 2 else f" {w} " for i, w in enumerate(words)]
    rights = parse_rights(",".join(shuffled))
    assert {n for n, r in RIGHT_NAMES.items() if r in rights} == set(words)
    assert parse_rights(format_rights(rights)) == rights


@given(st.integers(min_value=0, max_value=2**31 - 1))
def test_stored_bits_never_give_a_right_that_does_not_exist(bits: int) -> None:
    rights = rights_from_bits(bits)
    assert rights & ~ALL_RIGHTS == Right.NONE
    assert rights.value == bits & ALL_RIGHTS.value


def test_the_owner_has_every_right_but_manage_in_their_personal_mailbox() -> None:
    assert effective_rights(ALICE, ALICE_BOX) == OWNER_RIGHTS
    assert Right.MANAGE not in effective_rights(ALICE, ALICE_BOX, [ALL_RIGHTS])


@pytest.mark.parametrize("who", [BOB, ORG_ADMIN, SERVICE_ADMIN, OUTSIDER])
def test_nobody_else_opens_a_personal_mailbox_even_with_a_stray_grant(who: Principal) -> None:
    assert effective_rights(who, ALICE_BOX) == Right.NONE
    assert effective_rights(who, ALICE_BOX, [ALL_RIGHTS]) == Right.NONE


@pytest.mark.parametrize(
    "granted",
    [Right.READ, Right.READ | Right.WRITE, Right.READ | Right.MAIL | Right.DELETE, ALL_RIGHTS],
)
def test_a_group_member_gets_exactly_what_was_granted(granted: Right) -> None:
    assert effective_rights(ALICE, GROUP, [granted]) == granted


@pytest.mark.parametrize(
    "granted", [Right.WRITE, Right.MAIL, Right.DELETE, Right.MANAGE, ALL_RIGHTS & ~Right.READ]
)
def test_rights_without_read_give_nothing(granted: Right) -> None:
    assert effective_rights(ALICE, GROUP, [granted]) == Right.NONE


def test_several_grants_add_up() -> None:
    assert effective_rights(ALICE, GROUP, [Right.WRITE, Right.READ]) == Right.READ | Right.WRITE


def test_no_grant_means_no_access_to_a_group_mailbox() -> None:
    assert effective_rights(ALICE, GROUP) == Right.NONE


@pytest.mark.parametrize("who", [ORG_ADMIN, SERVICE_ADMIN])
def test_administrators_read_group_mail_only_when_granted(who: Principal) -> None:
    assert effective_rights(who, GROUP) == Right.NONE
    if who.org_id == GROUP.org_id:
        assert effective_rights(who, GROUP, [Right.READ]) == Right.READ


def test_a_grant_does_not_cross_organisations() -> None:
    assert effective_rights(OUTSIDER, GROUP, [ALL_RIGHTS]) == Right.NONE
    assert effective_rights(SERVICE_ADMIN, GROUP, [ALL_RIGHTS]) == Right.NONE


def test_a_disabled_mailbox_gives_nothing_to_anyone() -> None:
    disabled_group = MailboxFacts(100, ORG, MailboxKind.GROUP, None, disabled=True)
    disabled_own = MailboxFacts(101, ORG, MailboxKind.PERSONAL, 10, disabled=True)
    assert effective_rights(ALICE, disabled_group, [ALL_RIGHTS]) == Right.NONE
    assert effective_rights(ALICE, disabled_own) == Right.NONE


@given(
    st.sampled_from([ALICE, BOB, ORG_ADMIN, OTHER_ADMIN, OUTSIDER, SERVICE_ADMIN]),
    st.sampled_from([GROUP, ALICE_BOX]),
    st.lists(st.integers(min_value=0, max_value=ALL_RIGHTS.value).map(Right), max_size=3),
)
def test_effective_rights_is_empty_or_holds_read(
    who: Principal, mailbox: MailboxFacts, granted: list[Right]
) -> None:
    rights = effective_rights(who, mailbox, granted)
    assert rights == Right.NONE or Right.READ in rights
    if mailbox.kind is MailboxKind.GROUP:
        union = Right.NONE
        for g in granted:
            union |= g
        assert rights in (Right.NONE, union)


def test_who_may_administer_an_organisation() -> None:
    assert may_administer_org(SERVICE_ADMIN, ORG)
    assert may_administer_org(ORG_ADMIN, ORG)
    assert not may_administer_org(OTHER_ADMIN, ORG)
    assert not may_administer_org(ALICE, ORG)


def test_who_may_manage_grants() -> None:
    assert may_manage_grants(ORG_ADMIN, GROUP, Right.NONE)
    assert may_manage_grants(SERVICE_ADMIN, GROUP, Right.NONE)
    assert may_manage_grants(ALICE, GROUP, Right.READ | Right.MANAGE)
    assert not may_manage_grants(ALICE, GROUP, Right.READ | Right.WRITE | Right.MAIL)
    assert not may_manage_grants(OTHER_ADMIN, GROUP, Right.NONE)
    # Personal mailboxes are never shared, not even by the service administrator.
    assert not may_manage_grants(SERVICE_ADMIN, ALICE_BOX, Right.NONE)
    assert not may_manage_grants(ALICE, ALICE_BOX, OWNER_RIGHTS)
