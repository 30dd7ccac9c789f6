"""security.passwords: argon2id hashes that verify the right password and nothing else."""

import pytest

from securemail.security.passwords import MAX_PASSWORD_LENGTH, PasswordHasher


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost_kib=1024, parallelism=1)


def test_the_right_password_verifies(hasher: PasswordHasher) -> None:
    stored = hasher.hash("correct horse battery staple")
    assert stored.startswith("$argon2id$")
    assert hasher.verify(stored, "correct horse battery staple")


@pytest.mark.parametrize(
    "attempt", ["", "correct horse battery stapl", "Correct horse battery staple", " " * 30]
)
def test_a_wrong_password_fails(hasher: PasswordHasher, attempt: str) -> None:
    assert not hasher.verify(hasher.hash("correct horse battery staple"), attempt)


def test_hashes_are_salted(hasher: PasswordHasher) -> None:
    assert hasher.hash("same password here") != hasher.hash("same password here")


def test_no_stored_hash_never_verifies(hasher: PasswordHasher) -> None:
    assert not hasher.verify(None, "securemail-dummy-password")
    assert not hasher.verify(None, "")
    assert not hasher.verify("", "anything")


@pytest.mark.parametrize("garbage", ["not a hash", "$argon2id$v=19$m=1024,t=1,p=1$", "$2b$12$x"])
def test_a_corrupt_stored_hash_fails_instead_of_raising(
    hasher: PasswordHasher, garbage: str
) -> None:
    assert not hasher.verify(garbage, "anything at all")


def test_non_ascii_passwords_work(hasher: PasswordHasher) -> None:
    stored = hasher.hash("pässwörd-密码-🔑")
    assert hasher.verify(stored, "pässwörd-密码-🔑")
    assert not hasher.verify(stored, "passwort-密码-🔑")


def test_weaker_parameters_need_a_rehash(hasher: PasswordHasher) -> None:
    stronger = PasswordHasher(time_cost=2, memory_cost_kib=2048, parallelism=1)
    old = hasher.hash("correct horse battery staple")
    assert stronger.needs_rehash(old)
    assert not hasher.needs_rehash(old)
    assert stronger.verify(old, "correct horse battery staple")


def test_an_over_long_password_that_was_hashed_also_verifies(hasher: PasswordHasher) -> None:
    password = "x" * (MAX_PASSWORD_LENGTH + 10)
    assert hasher.verify(hasher.hash(password), password)
