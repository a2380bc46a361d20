import pyotp
import pytest

from duomfa.mfaservice import otp


def test_totp_accepts_one_step_of_drift_each_way_and_no_more():
    secret = otp.new_totp_secret()
    now = 1_800_000_015.0
    step = int(now // 30)
    totp = pyotp.TOTP(secret)
    for delta in (-1, 0, 1):
        assert otp.totp_match_step(secret, totp.generate_otp(step + delta), at=now) == step + delta
    for delta in (-2, 2):
        assert otp.totp_match_step(secret, totp.generate_otp(step + delta), at=now) is None


@pytest.mark.parametrize("passcode", ["", "12345", "1234567", "abcdef", "12 456"])
def test_totp_refuses_malformed_passcodes(passcode):
    assert otp.totp_match_step(otp.new_totp_secret(), passcode) is None


def test_hotp_look_ahead_finds_a_code_some_presses_ahead():
    secret = otp.hotp_secret_from_hex("3132333435363738393031323334353637383930")
    # RFC 4226 appendix D test vectors for this seed
    assert otp.hotp_match_counter(secret, "755224", 0) == 0
    assert otp.hotp_match_counter(secret, "520489", 0) == 9
    assert otp.hotp_match_counter(secret, "520489", 0, look_ahead=5) is None
    assert otp.hotp_match_counter(secret, "755224", 1) is None  # behind the counter: already used


def test_hotp_secret_must_be_hex_and_long_enough():
    with pytest.raises(ValueError, match="hexadecimal"):
        otp.hotp_secret_from_hex("not hex")
    with pytest.raises(ValueError, match="at least 10 bytes"):
        otp.hotp_secret_from_hex("0011")


def test_totp_uri_is_what_authenticator_apps_read():
    secret = otp.new_totp_secret()
    parsed = pyotp.parse_uri(otp.totp_uri(secret, "alice"))
    assert parsed.secret == secret and parsed.name == "alice" and parsed.issuer == "duomfa"
    assert parsed.digits == 6 and parsed.interval == 30


def test_numeric_codes_are_distinct_and_sized():
    codes = otp.new_numeric_codes(50, 9)
    assert len(set(codes)) == 50 and all(len(c) == 9 and c.isdigit() for c in codes)
