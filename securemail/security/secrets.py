"""Random secrets: generated passwords that are easy to type and hard to guess."""

import secrets

# No 0/O, 1/l/I: a one-time password is read off a screen and typed.
_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def generate_password(groups: int = 4, group_length: int = 5) -> str:
    """A password such as `kP7ma-...`: about 29 bits per group (4 groups: ~117 bits)."""
    return "-".join(
        "".join(secrets.choice(_ALPHABET) for _ in range(group_length)) for _ in range(groups)
    )
