"""Properties of the RADIUS codec (hypothesis): hostile octets only ever raise MalformedPacket, and what we encode
comes back unchanged."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from duomfa.radius import (
    ACCESS_ACCEPT,
    ACCESS_CHALLENGE,
    ACCESS_REJECT,
    ACCESS_REQUEST,
    MALFORMED_REASONS,
    MESSAGE_AUTHENTICATOR,
    STATUS_SERVER,
    USER_PASSWORD,
    MalformedPacket,
    Packet,
    decrypt_user_password,
    encode_reply,
    encode_request,
    hide_user_password,
    pap_password,
    parse,
    split_text_attribute,
    vendor_attributes,
    verify_reply,
    verify_request_message_authenticator,
)

# Enough to find structural bugs in a few seconds on a shared 2-core machine.
THOROUGH = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODEST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
QUICK = settings(max_examples=60, deadline=None)

secrets = st.binary(max_size=100)  # past 64 octets HMAC hashes the key first
authenticators = st.binary(min_size=16, max_size=16)
identifiers = st.integers(0, 255)
values = st.binary(max_size=253)
# Any type but the two the codec owns or limits: Message-Authenticator (encoder adds it) and User-Password (once)
attribute_types = st.integers(0, 255).filter(lambda number: number not in (MESSAGE_AUTHENTICATOR, USER_PASSWORD))
attribute_lists = st.lists(st.tuples(attribute_types, values), max_size=12)
passwords_without_nul = st.binary(min_size=1, max_size=128).filter(lambda octets: b"\0" not in octets)


def assert_parses_or_is_malformed(data: bytes) -> Packet | None:
    try:
        packet = parse(data)
    except MalformedPacket as error:
        assert error.reason in MALFORMED_REASONS
        return None
    # what parsed must re-assemble into exactly the octets covered by the Length field
    assert packet.raw == data[:len(packet.raw)]
    assert packet.raw[20:] == b"".join(bytes((number, len(value) + 2)) + value for number, value in packet.attributes)
    return packet


@st.composite
def valid_requests(draw) -> bytes:
    attributes = draw(attribute_lists)
    if draw(st.booleans()):
        attributes.insert(draw(st.integers(0, len(attributes))), (USER_PASSWORD, draw(st.binary(min_size=16,
                                                                                                max_size=128))))
    return encode_request(ACCESS_REQUEST, draw(identifiers), draw(authenticators), attributes, draw(secrets),
                          message_authenticator=draw(st.booleans()))


@st.composite
def mutated_requests(draw) -> bytes:
    data = bytearray(draw(valid_requests()))
    for _ in range(draw(st.integers(1, 3))):
        mutation = draw(st.sampled_from(["flip", "truncate", "extend", "attribute_length", "length_field"]))
        if mutation == "flip" and data:
            index = draw(st.integers(0, len(data) - 1))
            data[index] ^= 1 << draw(st.integers(0, 7))
        elif mutation == "truncate":
            del data[draw(st.integers(0, len(data))):]
        elif mutation == "extend":
            data += draw(st.binary(min_size=1, max_size=40))
        elif mutation == "attribute_length" and len(data) > 21:
            # the length octet of some attribute, found by walking the well-formed prefix
            offsets, position = [], 20
            while position + 1 < len(data) and data[position + 1] >= 2:
                offsets.append(position + 1)
                position += data[position + 1]
            if offsets:
                data[draw(st.sampled_from(offsets))] = draw(st.integers(0, 255))
        elif mutation == "length_field" and len(data) >= 4:
            data[2:4] = draw(st.integers(0, 0xFFFF)).to_bytes(2, "big")
    return bytes(data)


@st.composite
def plausible_headers(draw) -> bytes:
    # random bodies behind a Length field that is nearly right, so attribute walking is reached
    body = draw(st.binary(max_size=300))
    length = max(0, 20 + len(body) + draw(st.integers(-4, 4)))
    return bytes((draw(st.integers(0, 255)), draw(identifiers))) + length.to_bytes(2, "big") \
        + draw(authenticators) + body


@THOROUGH
@given(st.binary(max_size=4200))
def test_arbitrary_octets_parse_or_raise_malformed_packet(data):
    assert_parses_or_is_malformed(data)


@THOROUGH
@given(plausible_headers())
def test_random_bodies_behind_a_plausible_header_parse_or_raise_malformed_packet(data):
    assert_parses_or_is_malformed(data)


@THOROUGH
@given(mutated_requests())
def test_mutated_requests_parse_or_raise_malformed_packet(data):
    packet = assert_parses_or_is_malformed(data)
    if packet is not None:
        verify_request_message_authenticator(packet, b"secret")  # must not raise either


@MODEST
@given(st.sampled_from([ACCESS_REQUEST, STATUS_SERVER]), identifiers, authenticators, attribute_lists, secrets,
       st.booleans())
def test_encoded_request_parses_back_to_the_same_fields(code, identifier, authenticator, attributes, secret,
                                                        message_authenticator):
    message_authenticator = message_authenticator or code == STATUS_SERVER
    packet = parse(encode_request(code, identifier, authenticator, attributes, secret,
                                  message_authenticator=message_authenticator))
    assert (packet.code, packet.identifier, packet.authenticator) == (code, identifier, authenticator)
    sent = list(packet.attributes)
    if message_authenticator:
        assert sent.pop(0)[0] == MESSAGE_AUTHENTICATOR
    assert sent == attributes
    assert verify_request_message_authenticator(packet, secret) == message_authenticator


@MODEST
@given(authenticators, attribute_lists, secrets, secrets)
def test_request_message_authenticator_fails_with_any_other_secret(authenticator, attributes, secret, other):
    # HMAC pads keys with NULs (RFC 2104), so b"k" and b"k\0" are one key; no real secret ends in NUL
    assume(other.rstrip(b"\0") != secret.rstrip(b"\0"))
    packet = parse(encode_request(ACCESS_REQUEST, 1, authenticator, attributes, secret))
    assert not verify_request_message_authenticator(packet, other)


@QUICK
@given(secrets, authenticators, st.binary(min_size=128, max_size=128))
def test_hiding_then_decrypting_gives_the_padded_password_for_every_length(secret, authenticator, octets):
    for length in range(1, 129):
        password = octets[:length]
        hidden = hide_user_password(password, secret, authenticator)
        assert len(hidden) == -(-length // 16) * 16
        assert decrypt_user_password(hidden, secret, authenticator) == password.ljust(len(hidden), b"\0")


@MODEST
@given(passwords_without_nul, secrets, authenticators)
def test_pap_password_recovers_any_password_without_nul(password, secret, authenticator):
    assert pap_password(hide_user_password(password, secret, authenticator), secret, authenticator) == password


@MODEST
@given(passwords_without_nul, secrets, secrets, authenticators)
def test_pap_password_with_a_wrong_secret_is_not_the_password(password, secret, wrong, authenticator):
    assume(wrong != secret)
    assert pap_password(hide_user_password(password, secret, authenticator), wrong, authenticator) != password


@MODEST
@given(st.sampled_from([ACCESS_ACCEPT, ACCESS_REJECT, ACCESS_CHALLENGE]), identifiers, authenticators,
       attribute_lists, secrets)
def test_encoded_reply_verifies_and_keeps_its_attributes(code, identifier, authenticator, attributes, secret):
    request = parse(encode_request(ACCESS_REQUEST, identifier, authenticator, [], secret))
    reply = verify_reply(encode_reply(code, request, secret, attributes), authenticator, secret,
                         require_message_authenticator=True)
    assert (reply.code, reply.identifier) == (code, identifier)
    assert reply.attributes[0][0] == MESSAGE_AUTHENTICATOR
    assert list(reply.attributes[1:]) == attributes


@MODEST
@given(st.binary(max_size=1200))
def test_split_text_pieces_fit_and_join_back(text):
    pieces = split_text_attribute(18, text)
    assert b"".join(value for _, value in pieces) == text
    assert all(0 < len(value) <= 253 for _, value in pieces)


@QUICK
@given(st.text(max_size=600))
def test_split_utf8_text_pieces_are_each_valid_utf8(text):
    for _, value in split_text_attribute(18, text.encode()):
        value.decode("utf-8")


@MODEST
@given(st.binary(max_size=300))
def test_vendor_attributes_never_raise(value):
    for _vendor_id, vendor_type, data in vendor_attributes(value):
        assert 0 <= vendor_type <= 255 and len(data) <= len(value) - 6
