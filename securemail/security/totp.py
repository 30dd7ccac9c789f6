"""Time-based one-time passwords (RFC 6238) through pyotp."""

import pyotp

ISSUER = "securemail"


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, account: str) -> str:
    """The otpauth:// URI an authenticator app reads from a QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=ISSUER)


def verify(secret: str, code: str) -> bool:
    """True for the current code or its neighbours (30 s either side, for clock drift)."""
    clean = code.strip().replace(" ", "")
    if not clean.isdigit() or len(clean) != 6:
        return False
    return bool(pyotp.TOTP(secret).verify(clean, valid_window=1))
