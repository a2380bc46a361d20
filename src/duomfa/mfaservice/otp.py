"""Passcode checks: TOTP (RFC 6238) and HOTP (RFC 4226) through pyotp, and one-time code generation.

Pure functions: they say which time step or counter a passcode matches; the store records it, which is what
makes a passcode single-use.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time

import pyotp

TOTP_PERIOD = 30
TOTP_DIGITS = 6
TOTP_DRIFT_STEPS = 1  # one step either way, as authenticator apps drift
HOTP_LOOK_AHEAD = 10


def new_totp_secret() -> str:
    return pyotp.random_base32(32)


def totp_uri(secret: str, username: str, issuer: str = "duomfa") -> str:
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD).provisioning_uri(
        name=username, issuer_name=issuer)


def totp_now(secret: str, at: float | None = None) -> str:
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD).at(time.time() if at is None else at)


def totp_match_step(secret: str, passcode: str, at: float | None = None) -> int | None:
    """The time step whose code equals `passcode`, within the allowed drift; None if none does."""
    if len(passcode) != TOTP_DIGITS or not passcode.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD)
    now_step = int((time.time() if at is None else at) // TOTP_PERIOD)
    for step in range(now_step - TOTP_DRIFT_STEPS, now_step + TOTP_DRIFT_STEPS + 1):
        if secrets.compare_digest(totp.generate_otp(step), passcode):
            return step
    return None


def hotp_secret_from_hex(secret_hex: str) -> str:
    """Hardware tokens ship their seed as hex; pyotp wants base32."""
    try:
        raw = binascii.unhexlify(secret_hex.strip())
    except (binascii.Error, ValueError):
        raise ValueError("the HOTP secret must be hexadecimal (e.g. 3132333435363738393031323334353637383930)"
                         ) from None
    if len(raw) < 10:
        raise ValueError("the HOTP secret must be at least 10 bytes (20 hex digits)")
    return base64.b32encode(raw).decode("ascii")


def hotp_match_counter(secret: str, passcode: str, counter: int, digits: int = 6,
                       look_ahead: int = HOTP_LOOK_AHEAD) -> int | None:
    """The counter value whose code equals `passcode`, from `counter` up to `look_ahead` presses ahead."""
    if len(passcode) != digits or not passcode.isdigit():
        return None
    hotp = pyotp.HOTP(secret, digits=digits)
    for candidate in range(counter, counter + look_ahead + 1):
        if secrets.compare_digest(hotp.at(candidate), passcode):
            return candidate
    return None


def new_numeric_codes(count: int, digits: int) -> list[str]:
    codes: set[str] = set()
    while len(codes) < count:
        codes.add(str(secrets.randbelow(10**digits)).zfill(digits))
    return sorted(codes)
