"""The RADIUS codec against RFC vectors, hand-built packets, and pyrad as an independent peer."""

from __future__ import annotations

import hashlib
import hmac
import struct

import pyrad.dictionary
import pyrad.packet
import pytest

from duomfa.radius import (
    ACCESS_ACCEPT,
    ACCESS_CHALLENGE,
    ACCESS_REJECT,
    ACCESS_REQUEST,
    ACCOUNTING_REQUEST,
    ACCOUNTING_RESPONSE,
    ATTRIBUTE_NAMES,
    CALLING_STATION_ID,
    CLASS,
    MALFORMED_REASONS,
    MESSAGE_AUTHENTICATOR,
    MS_CHAP2_RESPONSE,
    MS_CHAP_CHALLENGE,
    NAS_IP_ADDRESS,
    NAS_PORT,
    PROXY_STATE,
    REPLY_MESSAGE,
    STATE,
    STATUS_SERVER,
    USER_NAME,
    USER_PASSWORD,
    VENDOR_MICROSOFT,
    VENDOR_SPECIFIC,
    BadReplyAuthenticator,
    MalformedPacket,
    UnknownAttributeName,
    attribute_name,
    attribute_type,
    decrypt_user_password,
    encode_reply,
    encode_request,
    encode_vendor_attribute,
    hide_user_password,
    new_request_authenticator,
    pap_password,
    parse,
    split_text_attribute,
    uses_ms_chap,
    vendor_attributes,
    verify_reply,
    verify_request_message_authenticator,
)
from duomfa.radius.packet import _hmac_md5
from support import pyrad_dictionary

SECRET = b"s3cr3t-shared"
WRONG_SECRETS = [b"", b"s3cr3t-share", b"s3cr3t-shared ", b"S3CR3T-SHARED", b"xyzzy5461", b"testing123"]

# RFC 2865 §7.1: "nemo" logs in with password "arctangent", shared secret "xyzzy5461"
RFC_SECRET = b"xyzzy5461"
RFC_REQUEST_AUTHENTICATOR = bytes.fromhex("0f403f9473978057bd83d5cb98f4227a")
RFC_HIDDEN_PASSWORD = bytes.fromhex("0dbe708d93d413ce3196e43f782a0aee")
RFC_ACCESS_REQUEST = bytes.fromhex(
    "01000038" "0f403f9473978057bd83d5cb98f4227a" "01066e656d6f" "0212" "0dbe708d93d413ce3196e43f782a0aee"
    "0406c0a80110" "050600000003")
RFC_ACCESS_ACCEPT = bytes.fromhex(
    "02000026" "86fe220e7624ba2a1005f6bf9b55e0b2" "060600000001" "0f0600000000" "0e06c0a80103")



@pytest.fixture(scope="module", name="pyrad_dictionary")
def pyrad_dictionary_fixture() -> pyrad.dictionary.Dictionary:
    return pyrad_dictionary()


def header(code: int, identifier: int, length: int, authenticator: bytes = bytes(16)) -> bytes:
    return struct.pack("!BBH", code, identifier, length) + authenticator


def packet_bytes(code: int, identifier: int, authenticator: bytes, *attributes: bytes) -> bytes:
    body = b"".join(attributes)
    return header(code, identifier, 20 + len(body), authenticator) + body


def attr(attribute: int, value: bytes) -> bytes:
    return bytes((attribute, len(value) + 2)) + value


def access_request(secret: bytes = SECRET, password: bytes = b"123456", *extra: tuple[int, bytes],
                   message_authenticator: bool = True) -> bytes:
    authenticator = new_request_authenticator()
    attributes = [(USER_NAME, b"alice"), (USER_PASSWORD, hide_user_password(password, secret, authenticator)),
                  (CALLING_STATION_ID, b"203.0.113.7"), *extra]
    return encode_request(ACCESS_REQUEST, 42, authenticator, attributes, secret,
                          message_authenticator=message_authenticator)


# --- published vectors ----------------------------------------------------------------------------------------

def test_rfc2865_example_password_hides_to_the_published_octets():
    assert hide_user_password(b"arctangent", RFC_SECRET, RFC_REQUEST_AUTHENTICATOR) == RFC_HIDDEN_PASSWORD


def test_rfc2865_example_request_parses_and_reveals_arctangent():
    request = parse(RFC_ACCESS_REQUEST)
    assert (request.code, request.identifier, request.authenticator) == (ACCESS_REQUEST, 0, RFC_REQUEST_AUTHENTICATOR)
    assert request.attributes == ((USER_NAME, b"nemo"), (USER_PASSWORD, RFC_HIDDEN_PASSWORD),
                                  (NAS_IP_ADDRESS, bytes([192, 168, 1, 16])), (NAS_PORT, bytes([0, 0, 0, 3])))
    assert decrypt_user_password(RFC_HIDDEN_PASSWORD, RFC_SECRET, request.authenticator) == b"arctangent" + bytes(6)
    assert pap_password(request.get(USER_PASSWORD), RFC_SECRET, request.authenticator) == b"arctangent"


def test_rfc2865_example_accept_verifies_against_its_request():
    reply = verify_reply(RFC_ACCESS_ACCEPT, RFC_REQUEST_AUTHENTICATOR, RFC_SECRET)
    assert reply.code == ACCESS_ACCEPT
    assert [attribute for attribute, _ in reply.attributes] == [6, 15, 14]


def test_rfc2865_example_accept_fails_with_another_secret_or_request():
    with pytest.raises(BadReplyAuthenticator) as raised:
        verify_reply(RFC_ACCESS_ACCEPT, RFC_REQUEST_AUTHENTICATOR, b"xyzzy5462")
    assert raised.value.reason == "response_authenticator"
    with pytest.raises(BadReplyAuthenticator):
        verify_reply(RFC_ACCESS_ACCEPT, bytes(16), RFC_SECRET)


@pytest.mark.parametrize(("key", "message", "digest"), [
    # RFC 2202 §2, test cases 1, 2 and 6 (the last hashes a key longer than the MD5 block first)
    (b"\x0b" * 16, b"Hi There", "9294727a3638bb1c13f48ef8158bfc9d"),
    (b"Jefe", b"what do ya want for nothing?", "750c783e6ab0b503eaa86e310a5db738"),
    (b"\xaa" * 80, b"Test Using Larger Than Block-Size Key - Hash Key First", "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd"),
])
def test_hmac_md5_matches_rfc_2202_vectors(key, message, digest):
    assert _hmac_md5(key, message).hex() == digest


# --- parsing --------------------------------------------------------------------------------------------------

def test_parse_keeps_attributes_in_wire_order_with_repeats():
    data = packet_bytes(ACCESS_REQUEST, 9, b"A" * 16, attr(PROXY_STATE, b"first"), attr(USER_NAME, b"bob"),
                        attr(PROXY_STATE, b"second"), attr(CLASS, b""), attr(PROXY_STATE, b"third"))
    packet = parse(data)
    assert packet.raw == data
    assert packet.get_all(PROXY_STATE) == [b"first", b"second", b"third"]
    assert packet.get(PROXY_STATE) == b"first"
    assert packet.get(CLASS) == b"" and packet.has(CLASS)
    assert packet.get(STATE) is None and not packet.has(STATE) and packet.get_all(STATE) == []


def test_octets_beyond_length_are_padding_and_ignored():
    data = packet_bytes(ACCESS_REQUEST, 1, b"B" * 16, attr(USER_NAME, b"carol"))
    packet = parse(data + b"\xff\x00garbage")
    assert packet.raw == data
    assert packet.attributes == ((USER_NAME, b"carol"),)


def test_parse_accepts_receive_buffers():
    data = packet_bytes(ACCESS_REQUEST, 1, b"C" * 16, attr(USER_NAME, b"dave"))
    for buffer in (bytearray(data + b"pad"), memoryview(data)):
        packet = parse(buffer)
        assert type(packet.raw) is bytes and packet.raw == data


def test_header_only_and_maximum_length_packets_parse():
    assert parse(header(ACCESS_REQUEST, 3, 20)).attributes == ()
    body = attr(CLASS, b"x" * 253) * 15 + attr(CLASS, b"y" * (4096 - 20 - 15 * 255 - 2))
    assert len(parse(packet_bytes(ACCESS_REQUEST, 3, bytes(16), body)).raw) == 4096


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "too_short"),
    (header(ACCESS_REQUEST, 1, 20)[:19], "too_short"),
    (header(ACCESS_REQUEST, 1, 19) + b"\x00", "too_short"),
    (header(ACCESS_REQUEST, 1, 0), "too_short"),
    (header(ACCESS_REQUEST, 1, 4097) + bytes(4077), "too_long"),
    (header(ACCESS_REQUEST, 1, 0xFFFF), "too_long"),
    (header(ACCESS_REQUEST, 1, 30) + attr(USER_NAME, b"abc"), "length_mismatch"),
    (header(ACCESS_REQUEST, 1, 21) + b"\x01", "bad_attribute_length"),
    (header(ACCESS_REQUEST, 1, 22) + b"\x01\x00", "bad_attribute_length"),
    (header(ACCESS_REQUEST, 1, 22) + b"\x01\x01", "bad_attribute_length"),
    (header(ACCESS_REQUEST, 1, 25) + b"\x01\x06abc", "bad_attribute_length"),
    (header(ACCESS_REQUEST, 1, 31) + attr(USER_NAME, b"abcde") + b"\x01\x06ab", "bad_attribute_length"),
    (packet_bytes(ACCESS_REQUEST, 1, bytes(16), attr(MESSAGE_AUTHENTICATOR, bytes(15))),
     "bad_message_authenticator_length"),
    (packet_bytes(ACCESS_REQUEST, 1, bytes(16), attr(MESSAGE_AUTHENTICATOR, bytes(17))),
     "bad_message_authenticator_length"),
    (packet_bytes(ACCESS_REQUEST, 1, bytes(16), attr(MESSAGE_AUTHENTICATOR, b"")),
     "bad_message_authenticator_length"),
    (packet_bytes(ACCESS_REQUEST, 1, bytes(16), attr(MESSAGE_AUTHENTICATOR, bytes(16)), attr(USER_NAME, b"e"),
                  attr(MESSAGE_AUTHENTICATOR, bytes(16))), "duplicate_message_authenticator"),
    (packet_bytes(ACCESS_REQUEST, 1, bytes(16), attr(USER_PASSWORD, bytes(16)), attr(USER_PASSWORD, bytes(16))),
     "duplicate_user_password"),
])
def test_malformed_structure_raises_with_its_reason(data, reason):
    with pytest.raises(MalformedPacket) as raised:
        parse(data)
    assert raised.value.reason == reason
    assert reason in MALFORMED_REASONS
    assert isinstance(raised.value, ValueError)


def test_malformed_packet_message_names_reason_and_detail():
    with pytest.raises(MalformedPacket) as raised:
        parse(header(ACCESS_REQUEST, 1, 30))
    assert str(raised.value) == "length_mismatch: Length field says 30, the datagram has 20 octets"


def test_packet_repr_shows_attribute_names_and_sizes_never_values():
    text = repr(parse(access_request(password=b"hunter2")))
    assert "User-Password(16)" in text and "Calling-Station-Id(11)" in text
    assert "alice" not in text and "203.0.113.7" not in text


# --- Message-Authenticator in requests ------------------------------------------------------------------------

def test_request_message_authenticator_verifies_with_the_right_secret_only():
    request = parse(access_request())
    assert request.attributes[0][0] == MESSAGE_AUTHENTICATOR
    assert verify_request_message_authenticator(request, SECRET)
    for wrong in WRONG_SECRETS:
        assert not verify_request_message_authenticator(request, wrong)


def test_request_without_message_authenticator_does_not_verify():
    assert not verify_request_message_authenticator(parse(access_request(message_authenticator=False)), SECRET)


def test_request_altered_after_signing_fails_message_authenticator():
    data = bytearray(access_request())
    data[-1] ^= 0x01  # last octet of Calling-Station-Id
    assert not verify_request_message_authenticator(parse(bytes(data)), SECRET)


def test_message_authenticator_in_the_middle_of_a_request_verifies():
    # Older NASes append it last or put it anywhere; RFC 3579 only fixes the computation.
    authenticator = b"\x11" * 16
    before, after = attr(USER_NAME, b"frank"), attr(NAS_PORT, b"\x00\x00\x00\x07")
    unsigned = packet_bytes(ACCESS_REQUEST, 5, authenticator, before, attr(MESSAGE_AUTHENTICATOR, bytes(16)), after)
    signature = hmac.new(SECRET, unsigned, hashlib.md5).digest()
    signed = packet_bytes(ACCESS_REQUEST, 5, authenticator, before, attr(MESSAGE_AUTHENTICATOR, signature), after)
    assert verify_request_message_authenticator(parse(signed), SECRET)
    assert not verify_request_message_authenticator(parse(signed), b"other")


# --- User-Password --------------------------------------------------------------------------------------------

def test_pap_password_reveals_the_password_with_the_right_secret():
    request = parse(access_request(password=b"correct horse battery staple"))
    hidden = request.get(USER_PASSWORD)
    assert len(hidden) == 32
    assert pap_password(hidden, SECRET, request.authenticator) == b"correct horse battery staple"


def test_pap_password_with_wrong_secrets_is_never_the_password():
    request = parse(access_request(password=b"123456"))
    for wrong in WRONG_SECRETS:
        assert pap_password(request.get(USER_PASSWORD), wrong, request.authenticator) != b"123456"


def test_pap_password_is_none_when_plaintext_is_not_password_then_nuls():
    authenticator = b"\x22" * 16
    for plaintext in (b"", b"\x00abc", b"ab\x00c", b"x" * 15 + b"\x00" + b"y"):
        assert pap_password(hide_user_password(plaintext, SECRET, authenticator), SECRET, authenticator) is None


def test_padding_check_catches_only_a_few_wrong_secrets():
    # Why the proxy must not pick a secret on pap_password alone: under a wrong secret the plaintext is noise,
    # and 16 octets of noise hold no NUL 94% of the time, so they pass as a 16-octet password.
    authenticator = b"\x33" * 16
    hidden = hide_user_password(b"push", SECRET, authenticator)
    results = [pap_password(hidden, b"wrong-%d" % n, authenticator) for n in range(400)]
    rejected = sum(result is None for result in results)
    assert 0 < rejected < 400 * 0.15
    assert b"push" not in results


@pytest.mark.parametrize("size", [0, 8, 15, 17, 40, 144])
def test_user_password_of_a_wrong_length_is_malformed(size):
    with pytest.raises(MalformedPacket) as raised:
        decrypt_user_password(bytes(size), SECRET, bytes(16))
    assert raised.value.reason == "bad_user_password_length"
    with pytest.raises(MalformedPacket):
        pap_password(bytes(size), SECRET, bytes(16))


def test_hiding_pads_to_sixteen_octet_blocks_and_refuses_over_128():
    assert len(hide_user_password(b"", SECRET, bytes(16))) == 16
    assert len(hide_user_password(b"x" * 16, SECRET, bytes(16))) == 16
    assert len(hide_user_password(b"x" * 17, SECRET, bytes(16))) == 32
    assert len(hide_user_password(b"x" * 128, SECRET, bytes(16))) == 128
    with pytest.raises(ValueError):
        hide_user_password(b"x" * 129, SECRET, bytes(16))


# --- replies --------------------------------------------------------------------------------------------------

def test_reply_puts_message_authenticator_first_then_attributes_in_order():
    request = parse(access_request(SECRET, b"123456", (PROXY_STATE, b"ps-1"), (PROXY_STATE, b"ps-2")))
    given = [(REPLY_MESSAGE, b"Welcome"), *[(PROXY_STATE, value) for value in request.get_all(PROXY_STATE)],
             (CLASS, b"c")]
    reply = verify_reply(encode_reply(ACCESS_ACCEPT, request, SECRET, given), request.authenticator, SECRET,
                         require_message_authenticator=True)
    assert reply.code == ACCESS_ACCEPT and reply.identifier == request.identifier
    assert reply.attributes[0][0] == MESSAGE_AUTHENTICATOR
    assert list(reply.attributes[1:]) == given
    assert reply.get_all(PROXY_STATE) == [b"ps-1", b"ps-2"]


def test_reply_authenticators_match_an_independent_computation():
    request = parse(access_request())
    data = encode_reply(ACCESS_REJECT, request, SECRET, [(REPLY_MESSAGE, b"Denied")])
    zeroed = data[:4] + request.authenticator + data[20:22] + bytes(16) + data[38:]
    assert data[22:38] == hmac.new(SECRET, zeroed, hashlib.md5).digest()
    assert data[4:20] == hashlib.md5(data[:4] + request.authenticator + data[20:] + SECRET).digest()


@pytest.mark.parametrize("code", [ACCESS_ACCEPT, ACCESS_REJECT, ACCESS_CHALLENGE])
def test_reply_fails_verification_with_a_wrong_secret_or_another_request(code):
    request = parse(access_request())
    data = encode_reply(code, request, SECRET, [(STATE, b"state-1")])
    for wrong in WRONG_SECRETS:
        with pytest.raises(BadReplyAuthenticator):
            verify_reply(data, request.authenticator, wrong)
    with pytest.raises(BadReplyAuthenticator):
        verify_reply(data, new_request_authenticator(), SECRET)


def test_reply_with_a_forged_message_authenticator_is_rejected_even_if_the_response_authenticator_fits():
    request = parse(access_request())
    data = bytearray(encode_reply(ACCESS_ACCEPT, request, SECRET, [(REPLY_MESSAGE, b"ok")]))
    data[22] ^= 0xFF
    data[4:20] = hashlib.md5(bytes(data[:4]) + request.authenticator + bytes(data[20:]) + SECRET).digest()
    with pytest.raises(BadReplyAuthenticator) as raised:
        verify_reply(bytes(data), request.authenticator, SECRET)
    assert raised.value.reason == "message_authenticator"


def test_reply_without_message_authenticator_fails_only_when_one_is_required():
    verify_reply(RFC_ACCESS_ACCEPT, RFC_REQUEST_AUTHENTICATOR, RFC_SECRET)
    with pytest.raises(BadReplyAuthenticator) as raised:
        verify_reply(RFC_ACCESS_ACCEPT, RFC_REQUEST_AUTHENTICATOR, RFC_SECRET, require_message_authenticator=True)
    assert raised.value.reason == "missing_message_authenticator"


def test_reply_refuses_what_cannot_be_sent():
    request = parse(access_request())
    with pytest.raises(ValueError, match="253"):
        encode_reply(ACCESS_ACCEPT, request, SECRET, [(REPLY_MESSAGE, b"x" * 254)])
    with pytest.raises(ValueError, match="Message-Authenticator"):
        encode_reply(ACCESS_ACCEPT, request, SECRET, [(MESSAGE_AUTHENTICATOR, bytes(16))])
    with pytest.raises(ValueError, match="4096"):
        encode_reply(ACCESS_ACCEPT, request, SECRET, [(CLASS, b"x" * 253)] * 16)
    with pytest.raises(ValueError):
        encode_reply(ACCESS_ACCEPT, request, SECRET, [(256, b"x")])
    with pytest.raises(ValueError):
        encode_reply(256, request, SECRET, [])


def test_split_text_attribute_fills_253_octet_pieces():
    pieces = split_text_attribute(REPLY_MESSAGE, b"a" * 600)
    assert [len(value) for _, value in pieces] == [253, 253, 94]
    assert {attribute for attribute, _ in pieces} == {REPLY_MESSAGE}
    assert split_text_attribute(REPLY_MESSAGE, b"") == []
    assert split_text_attribute(REPLY_MESSAGE, b"short") == [(REPLY_MESSAGE, b"short")]


def test_split_text_attribute_never_cuts_a_utf8_character():
    text = ("Zugriff gewährt — " + "€😀é" * 120).encode()
    pieces = split_text_attribute(REPLY_MESSAGE, text)
    assert b"".join(value for _, value in pieces) == text
    for _, value in pieces:
        assert 250 <= len(value) <= 253 or value is pieces[-1][1]
        value.decode("utf-8")


def test_split_text_fits_a_reply():
    request = parse(access_request())
    message = split_text_attribute(REPLY_MESSAGE, b"m" * 1000)
    reply = verify_reply(encode_reply(ACCESS_CHALLENGE, request, SECRET, message), request.authenticator, SECRET)
    assert b"".join(reply.get_all(REPLY_MESSAGE)) == b"m" * 1000


# --- requests -------------------------------------------------------------------------------------------------

def test_status_server_carries_a_verifiable_message_authenticator():
    authenticator = new_request_authenticator()
    request = parse(encode_request(STATUS_SERVER, 200, authenticator, [], SECRET))
    assert request.code == STATUS_SERVER and request.authenticator == authenticator
    assert request.attributes[0][0] == MESSAGE_AUTHENTICATOR
    assert verify_request_message_authenticator(request, SECRET)
    with pytest.raises(ValueError, match="RFC 5997"):
        encode_request(STATUS_SERVER, 200, authenticator, [], SECRET, message_authenticator=False)


def test_encode_request_refuses_codes_whose_authenticator_is_a_hash_and_bad_authenticators():
    with pytest.raises(ValueError):
        encode_request(ACCOUNTING_REQUEST, 1, bytes(16), [], SECRET)
    with pytest.raises(ValueError):
        encode_request(ACCESS_REQUEST, 1, bytes(15), [], SECRET)
    with pytest.raises(ValueError):
        encode_request(ACCESS_REQUEST, 256, bytes(16), [], SECRET)


# --- names and vendor attributes ------------------------------------------------------------------------------

def test_attribute_names_resolve_in_any_case_and_round_trip():
    assert attribute_type("Calling-Station-Id") == CALLING_STATION_ID
    assert attribute_type(" calling-station-id ") == CALLING_STATION_ID
    assert attribute_type("REPLY-MESSAGE") == REPLY_MESSAGE
    assert attribute_type("Attr-224") == 224
    for number, name in ATTRIBUTE_NAMES.items():
        assert attribute_type(attribute_name(number)) == number
        assert attribute_type(name) == number
    assert attribute_name(224) == "Attr-224" and attribute_name(0) == "Attr-0"


def test_unknown_attribute_name_is_a_key_error_that_suggests_the_spelling():
    with pytest.raises(UnknownAttributeName) as raised:
        attribute_type("Caling-Station-Id")
    assert isinstance(raised.value, KeyError)
    assert str(raised.value).startswith("unknown RADIUS attribute name 'Caling-Station-Id'; did you mean ")
    assert "'Calling-Station-Id'" in str(raised.value)
    for bad in ("Attr-0", "Attr-256", "Frobnicate"):
        with pytest.raises(UnknownAttributeName):
            attribute_type(bad)
    with pytest.raises(KeyError):
        attribute_name(256)


def test_vendor_attributes_read_ms_chap_and_tolerate_garbage():
    vendor, value = encode_vendor_attribute(VENDOR_MICROSOFT, MS_CHAP2_RESPONSE, b"r" * 50)
    assert vendor == VENDOR_SPECIFIC
    assert vendor_attributes(value) == [(VENDOR_MICROSOFT, MS_CHAP2_RESPONSE, b"r" * 50)]
    assert vendor_attributes(value + b"\x05") == [(VENDOR_MICROSOFT, MS_CHAP2_RESPONSE, b"r" * 50)]
    assert vendor_attributes(value[:4] + b"\x01\x00" + value[4:]) == []
    assert vendor_attributes(value[:3]) == []
    assert vendor_attributes(value[:-1]) == []
    with pytest.raises(ValueError):
        encode_vendor_attribute(VENDOR_MICROSOFT, MS_CHAP2_RESPONSE, b"r" * 248)


def test_ms_chap_requests_are_recognised_and_pap_requests_are_not():
    challenge = encode_vendor_attribute(VENDOR_MICROSOFT, MS_CHAP_CHALLENGE, b"c" * 16)
    response = encode_vendor_attribute(VENDOR_MICROSOFT, MS_CHAP2_RESPONSE, b"r" * 50)
    ms_chap = encode_request(ACCESS_REQUEST, 1, bytes(16), [(USER_NAME, b"g"), challenge, response], SECRET)
    assert uses_ms_chap(parse(ms_chap))
    assert not uses_ms_chap(parse(access_request()))
    other_vendor = encode_vendor_attribute(9, MS_CHAP2_RESPONSE, b"r" * 50)
    assert not uses_ms_chap(parse(encode_request(ACCESS_REQUEST, 1, bytes(16), [other_vendor], SECRET)))


# --- pyrad as an independent peer -----------------------------------------------------------------------------

def test_pyrad_request_parses_its_message_authenticator_verifies_and_its_password_decrypts(pyrad_dictionary):
    request = pyrad.packet.AuthPacket(id=77, secret=SECRET, dict=pyrad_dictionary)
    request["User-Name"] = "alice"
    request["User-Password"] = request.PwCrypt("correct horse battery staple")
    request["Calling-Station-Id"] = "198.51.100.4"
    request.AddAttribute("Proxy-State", b"one")
    request.AddAttribute("Proxy-State", b"two")
    request.add_message_authenticator()
    packet = parse(request.RequestPacket())
    assert (packet.code, packet.identifier, packet.authenticator) == (ACCESS_REQUEST, 77, request.authenticator)
    assert packet.get(USER_NAME) == b"alice" and packet.get_all(PROXY_STATE) == [b"one", b"two"]
    assert packet.attributes[0][0] == MESSAGE_AUTHENTICATOR
    assert verify_request_message_authenticator(packet, SECRET)
    assert not verify_request_message_authenticator(packet, b"not-" + SECRET)
    assert pap_password(packet.get(USER_PASSWORD), SECRET, packet.authenticator) == b"correct horse battery staple"


def test_pyrad_accounting_request_message_authenticator_verifies_over_a_zero_vector(pyrad_dictionary):
    request = pyrad.packet.AcctPacket(id=3, secret=SECRET, dict=pyrad_dictionary)
    request["User-Name"] = "alice"
    request["Acct-Status-Type"] = 1
    request.add_message_authenticator()
    packet = parse(request.RequestPacket())
    assert packet.code == ACCOUNTING_REQUEST
    assert verify_request_message_authenticator(packet, SECRET)


def test_our_accounting_response_is_accepted_by_pyrad(pyrad_dictionary):
    # its Message-Authenticator is computed over a zero vector, like the request's
    request = pyrad.packet.AcctPacket(id=4, secret=SECRET, dict=pyrad_dictionary)
    request["Acct-Status-Type"] = 1
    request.add_message_authenticator()
    data = encode_reply(ACCOUNTING_RESPONSE, parse(request.RequestPacket()), SECRET, [])
    assert request.VerifyReply(request.CreateReply(packet=data), data, enforce_ma=True)


def test_our_request_is_accepted_by_pyrad(pyrad_dictionary):
    data = access_request(SECRET, b"hunter2", (PROXY_STATE, b"p"))
    decoded = pyrad.packet.AuthPacket(packet=data, secret=SECRET, dict=pyrad_dictionary)
    assert decoded.verify_message_authenticator()
    assert decoded.PwDecrypt(decoded["User-Password"][0]) == "hunter2"
    assert decoded["User-Name"] == ["alice"] and decoded["Calling-Station-Id"] == ["203.0.113.7"]


def test_our_reply_is_accepted_by_pyrad_with_message_authenticator_enforced(pyrad_dictionary):
    request = pyrad.packet.AuthPacket(id=12, secret=SECRET, dict=pyrad_dictionary)
    request["User-Name"] = "alice"
    request["User-Password"] = request.PwCrypt("123456")
    request.AddAttribute("Proxy-State", b"hop-1")
    request.AddAttribute("Proxy-State", b"hop-2")
    request.add_message_authenticator()
    ours = parse(request.RequestPacket())
    data = encode_reply(ACCESS_ACCEPT, ours, SECRET, [
        (REPLY_MESSAGE, b"Success. Logging you in..."), (CLASS, b"duo"),
        *[(PROXY_STATE, value) for value in ours.get_all(PROXY_STATE)]])
    reply = request.CreateReply(packet=data)
    assert request.VerifyReply(reply, data, enforce_ma=True)
    assert reply.verify_message_authenticator(original_authenticator=request.authenticator,
                                              original_code=request.code)
    assert reply.code == ACCESS_ACCEPT and reply["Reply-Message"] == ["Success. Logging you in..."]
    assert reply["Proxy-State"] == [b"hop-1", b"hop-2"]
    wrong = pyrad.packet.AuthPacket(id=12, secret=b"other", authenticator=request.authenticator,
                                    dict=pyrad_dictionary)
    assert not wrong.VerifyReply(wrong.CreateReply(packet=data), data)


def test_pyrad_reply_verifies_with_ours(pyrad_dictionary):
    request = pyrad.packet.AuthPacket(id=13, secret=SECRET, dict=pyrad_dictionary)
    request["User-Name"] = "alice"
    request.add_message_authenticator()
    request.RequestPacket()
    reply = request.CreateReply()
    reply.code = ACCESS_REJECT
    reply["Reply-Message"] = "no"
    data = reply.ReplyPacket()
    packet = verify_reply(data, request.authenticator, SECRET, require_message_authenticator=True)
    assert packet.code == ACCESS_REJECT and packet.get(REPLY_MESSAGE) == b"no"
    with pytest.raises(BadReplyAuthenticator):
        verify_reply(data, request.authenticator, b"other")


def test_pyrad_ms_chap_request_is_recognised(pyrad_dictionary):
    request = pyrad.packet.AuthPacket(id=14, secret=SECRET, dict=pyrad_dictionary)
    request["User-Name"] = "alice"
    request["MS-CHAP-Challenge"] = b"c" * 16
    request["MS-CHAP2-Response"] = b"r" * 50
    request.add_message_authenticator()
    packet = parse(request.RequestPacket())
    assert uses_ms_chap(packet)
    assert verify_request_message_authenticator(packet, SECRET)
