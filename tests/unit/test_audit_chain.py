"""core.audit: the hash chain notices any change, gap or reordering and names the entry."""

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from securemail.core.audit import GENESIS_HASH, ChainFields, entry_hash, verify_chain

Triple = tuple[ChainFields, str, str]


def make_chain(count: int) -> list[Triple]:
    chain: list[Triple] = []
    prev = GENESIS_HASH
    for i in range(1, count + 1):
        fields = ChainFields(
            id=i,
            at=f"2026-11-27T10:00:{i % 60:02d}.{i:06d}Z",
            actor="admin@polres.co.uk",
            org_id=1 if i % 3 else None,
            action="grant",
            mailbox="gm.zerotolerance@polres.co.uk",
            target=f"user{i}@polres.co.uk",
            detail="channel=cli added=read now=read",
        )
        digest = entry_hash(prev, fields)
        chain.append((fields, prev, digest))
        prev = digest
    return chain


def test_an_intact_chain_verifies_and_counts_its_entries() -> None:
    report = verify_chain(make_chain(10))
    assert report.ok
    assert report.checked == 10
    assert report.first_bad_id is None


def test_an_empty_chain_is_intact() -> None:
    report = verify_chain([])
    assert report.ok and report.checked == 0


def test_the_hash_depends_on_the_previous_hash_and_on_every_field() -> None:
    fields = make_chain(1)[0][0]
    base = entry_hash(GENESIS_HASH, fields)
    assert len(base) == 64 and int(base, 16) >= 0
    assert entry_hash("1" * 64, fields) != base
    changes = {
        "id": 2,
        "at": "2026-11-27T10:00:01.000002Z",
        "actor": "eve@polres.co.uk",
        "org_id": 2,
        "action": "revoke",
        "mailbox": "gm.other@polres.co.uk",
        "target": "eve@polres.co.uk",
        "detail": "channel=web",
    }
    for name, value in changes.items():
        assert entry_hash(GENESIS_HASH, dataclasses.replace(fields, **{name: value})) != base


def test_no_organisation_and_organisation_zero_hash_differently() -> None:
    fields = make_chain(1)[0][0]
    no_org = entry_hash(GENESIS_HASH, dataclasses.replace(fields, org_id=None))
    assert no_org != entry_hash(GENESIS_HASH, dataclasses.replace(fields, org_id=0))


def test_a_changed_field_is_reported_at_that_entry() -> None:
    chain = make_chain(6)
    fields, prev, digest = chain[3]
    chain[3] = (dataclasses.replace(fields, target="eve@polres.co.uk"), prev, digest)
    report = verify_chain(chain)
    assert not report.ok
    assert report.first_bad_id == 4
    assert report.checked == 3
    assert "hash" in report.reason


def test_a_rewritten_entry_with_a_recomputed_hash_breaks_the_next_link() -> None:
    chain = make_chain(6)
    fields, prev, _digest = chain[2]
    forged = dataclasses.replace(fields, action="login")
    chain[2] = (forged, prev, entry_hash(prev, forged))
    report = verify_chain(chain)
    assert not report.ok
    assert report.first_bad_id == 4
    assert "previous-hash" in report.reason


def test_a_missing_entry_is_named() -> None:
    chain = make_chain(6)
    del chain[2]  # entry 3
    report = verify_chain(chain)
    assert not report.ok
    assert report.first_bad_id == 4
    assert "entry 3 is missing" in report.reason


def test_a_chain_that_does_not_start_at_one_is_broken() -> None:
    report = verify_chain(make_chain(4)[1:])
    assert not report.ok
    assert "entry 1 is missing" in report.reason


def test_swapped_entries_are_noticed() -> None:
    chain = make_chain(5)
    chain[1], chain[2] = chain[2], chain[1]
    report = verify_chain(chain)
    assert not report.ok
    assert report.first_bad_id == 3


@given(
    st.integers(min_value=1, max_value=8),
    st.sampled_from(["at", "actor", "action", "mailbox", "target", "detail"]),
    st.text(min_size=1, max_size=20),
)
def test_any_single_text_change_is_caught_at_its_entry(
    position: int, name: str, suffix: str
) -> None:
    chain = make_chain(8)
    fields, prev, digest = chain[position - 1]
    changed = dataclasses.replace(fields, **{name: getattr(fields, name) + suffix})
    chain[position - 1] = (changed, prev, digest)
    report = verify_chain(chain)
    assert not report.ok
    assert report.first_bad_id == position
    assert report.checked == position - 1


@pytest.mark.parametrize("bad_prev", ["", "f" * 64])
def test_a_wrong_first_link_is_caught(bad_prev: str) -> None:
    chain = make_chain(3)
    fields, _prev, _digest = chain[0]
    chain[0] = (fields, bad_prev, entry_hash(bad_prev, fields))
    report = verify_chain(chain)
    assert not report.ok and report.first_bad_id == 1
