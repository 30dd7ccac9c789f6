"""security.secrets.generate_password: typeable one-time passwords with enough entropy."""

import re

from securemail.security.secrets import generate_password

AMBIGUOUS = set("0O1lI")


def test_the_default_shape_is_four_groups_of_five() -> None:
    password = generate_password()
    assert re.fullmatch(r"[A-Za-z2-9]{5}(-[A-Za-z2-9]{5}){3}", password)
    assert len(password) == 23


def test_no_character_that_is_easy_to_misread() -> None:
    letters = set("".join(generate_password() for _ in range(300)).replace("-", ""))
    assert not letters & AMBIGUOUS
    # 6,000 draws from a 57-character alphabet show (almost surely) all of it.
    assert len(letters) == 57


def test_passwords_do_not_repeat() -> None:
    assert len({generate_password() for _ in range(500)}) == 500


def test_group_count_and_length_are_honoured() -> None:
    password = generate_password(groups=6, group_length=3)
    parts = password.split("-")
    assert len(parts) == 6 and all(len(p) == 3 for p in parts)


def test_long_enough_for_the_default_minimum_length() -> None:
    assert len(generate_password()) >= 12
