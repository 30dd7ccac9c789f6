"""The keyring: sealed values open only in their own place, under a key the ring holds; a
rotation on one machine is picked up by a keyring already loaded elsewhere."""

import logging
import os
import time
from pathlib import Path

import pytest

from securemail.security import sealing
from securemail.security.sealing import (
    MAGIC,
    Keyring,
    KeyringError,
    is_sealed,
    sealed_key_id,
    text_key_id,
)

MAIL = b"From: a@b.example\r\nSubject: statement\r\n\r\nThe witness saw everything.\r\n"


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return Keyring.load(tmp_path / "data.keys")


def test_a_sealed_value_opens_only_in_its_own_place(keyring: Keyring) -> None:
    sealed = keyring.seal(MAIL, "blob-1")
    assert is_sealed(sealed) and sealed_key_id(sealed) == 1
    assert b"witness" not in sealed
    assert keyring.open(sealed, "blob-1") == MAIL
    with pytest.raises(KeyringError, match=r"blob-2 .*failed its check"):
        keyring.open(sealed, "blob-2")  # moved to another row or file
    damaged = bytearray(sealed)
    damaged[-20] ^= 1
    with pytest.raises(KeyringError, match="failed its check"):
        keyring.open(bytes(damaged), "blob-1")
    assert keyring.seal(MAIL, "blob-1") != sealed  # a fresh nonce every time


def test_a_value_stored_before_sealing_reads_as_it_is(keyring: Keyring) -> None:
    assert keyring.open(MAIL, "blob-1") == MAIL
    assert keyring.open_text("JBSWY3DP", "totp:1") == "JBSWY3DP"
    assert text_key_id("JBSWY3DP") is None
    sealed = keyring.seal_text("JBSWY3DP", "totp:1")
    assert "JBSWY3DP" not in sealed and text_key_id(sealed) == 1
    assert keyring.open_text(sealed, "totp:1") == "JBSWY3DP"


def test_another_installation_cannot_open_what_this_one_sealed(
    keyring: Keyring, tmp_path: Path
) -> None:
    other = Keyring.load(tmp_path / "other" / "data.keys")
    with pytest.raises(KeyringError, match="failed its check"):
        other.open(keyring.seal(MAIL, "blob-1"), "blob-1")
    assert other.token("witness") != keyring.token("witness")


def test_a_rotation_elsewhere_is_picked_up_without_a_restart(
    keyring: Keyring, tmp_path: Path
) -> None:
    operator = Keyring.load(tmp_path / "data.keys", create=False)
    assert operator.rotate() == 2
    sealed_by_new_key = operator.seal(MAIL, "blob-9")
    assert sealed_key_id(sealed_by_new_key) == 2

    assert keyring.open(sealed_by_new_key, "blob-9") == MAIL  # an unknown id: file re-read
    assert keyring.current_id == 2 and keyring.key_ids == [1, 2]
    assert keyring.token("witness") == operator.token("witness")  # the index key stays


def test_an_unknown_key_id_is_refused_with_its_number(keyring: Keyring) -> None:
    forged = MAGIC + (7).to_bytes(4, "big") + bytes(40)
    with pytest.raises(KeyringError, match="key 7, which the keyring lacks"):
        keyring.open(forged, "blob-1")


def test_keys_from_a_variable(keyring: Keyring, tmp_path: Path) -> None:
    text = (tmp_path / "data.keys").read_text()
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    from_variable = Keyring.from_text(";".join(lines))
    assert from_variable.open(keyring.seal(MAIL, "blob-1"), "blob-1") == MAIL
    with pytest.raises(KeyringError, match="add a key there and restart"):
        from_variable.rotate()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "no 'index' key"),
        ("index AAAA", "line 1: a key is 32 bytes"),
        ("index " + "A" * 43 + "=\nkey x " + "A" * 43 + "=", "line 2: invalid literal"),
        ("index " + "A" * 43 + "=", "holds no data key"),
        ("index " + "A" * 43 + "=\nsecret 1 2", "line 2: expected 'index KEY' or 'key ID KEY'"),
    ],
)
def test_a_malformed_keyring_is_refused_with_the_line(text: str, says: str) -> None:
    with pytest.raises(KeyringError, match=says):
        Keyring.from_text(text)


def test_a_missing_key_file_is_not_made_when_told_not_to(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match="no key file"):
        Keyring.load(tmp_path / "absent.keys", create=False)


def test_a_staged_key_opens_but_does_not_seal_until_rotated(
    keyring: Keyring, tmp_path: Path
) -> None:
    """Nodes with their own copies of the file: stage, copy everywhere, then rotate."""
    path = tmp_path / "data.keys"
    operator = Keyring.load(path, create=False)
    assert operator.rotate(stage=True) == 2
    assert "key 2 " in path.read_text() and path.read_text().rstrip().endswith("staged")
    assert operator.current_id == 1  # still seals under key 1
    staged_node = Keyring.load(path, create=False)
    assert sealed_key_id(staged_node.seal(MAIL, "b")) == 1

    assert operator.rotate() == 2  # the staged key, not a third one
    assert operator.current_id == 2 and operator.key_ids == [1, 2]
    assert not any(line.endswith("staged") for line in path.read_text().splitlines())
    assert staged_node.open(operator.seal(MAIL, "b"), "b") == MAIL


def test_a_malformed_edit_of_the_key_file_keeps_the_keys_in_use(
    keyring: Keyring,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A node serving mail goes on sealing when an operator saves a broken key file, and
    takes the file again once it is mended."""
    monkeypatch.setattr(sealing, "RELOAD_SECONDS", 0.0)
    path = tmp_path / "data.keys"
    good = path.read_text()
    path.write_text(good + "key 2 not-base64\n")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))

    with caplog.at_level(logging.ERROR, logger="securemail.security.sealing"):
        sealed = keyring.seal(MAIL, "blob-1")
    assert sealed_key_id(sealed) == 1 and keyring.open(sealed, "blob-1") == MAIL
    assert "key file not reloaded, keeping the keys in use" in caplog.text
    assert "line" in caplog.text

    path.write_text(good)
    assert Keyring.load(path, create=False).rotate() == 2  # mended, and a key added
    assert sealed_key_id(keyring.seal(MAIL, "blob-2")) == 2
