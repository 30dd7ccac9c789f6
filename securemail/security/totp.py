"""Time-based one-time passwords (RFC 6238) through pyotp, with a replay guard."""

import time

import pyotp

ISSUER = "securemail"
STEP_SECONDS = 30  # RFC 6238 section 4: X, the time step
DRIFT_STEPS = 1  # accept the neighbouring steps, for clock drift


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, account: str) -> str:
    """The otpauth:// URI an authenticator app reads from a QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=ISSUER)


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step (RFC 6238 section 4.2, T) whose code `code` is, within the drift window;
    None if it matches none. Callers refuse a step not newer than the last one they accepted,
    so a code seen over a shoulder or in a log cannot be used a second time."""
    clean = code.strip().replace(" ", "")
    if not (clean.isascii() and clean.isdigit()) or len(clean) != 6:
        return None
    totp = pyotp.TOTP(secret)
    moment = time.time() if now is None else now
    current = int(moment // STEP_SECONDS)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if pyotp.utils.strings_equal(totp.at(step * STEP_SECONDS), clean):
            return step
    return None


def verify(secret: str, code: str) -> bool:
    """True for the current code or its neighbours (30 s either side, for clock drift)."""
    return matching_step(secret, code) is not None
