"""Mutations of valid RADIUS requests for fuzzing the proxy: truncated, oversized, repeated and malformed
attributes, random damage — and, for half of them, a Message-Authenticator recomputed over the damaged packet, so
the damage reaches the code behind the authentication checks."""

from __future__ import annotations

import hashlib
import hmac
import random
import struct

from duomfa import radius

A = radius.constants


def resign(raw: bytes, secret: bytes) -> bytes:
    """Recompute the Message-Authenticator of a (possibly damaged) request, if one can be found by walking it."""
    data = bytearray(raw)
    position = 20
    while position + 2 <= len(data):
        kind, length = data[position], data[position + 1]
        if length < 2:
            return bytes(data)
        if kind == A.MESSAGE_AUTHENTICATOR and length == 18 and position + 18 <= len(data):
            data[position + 2:position + 18] = bytes(16)
            data[position + 2:position + 18] = hmac.new(secret, bytes(data), hashlib.md5).digest()
            return bytes(data)
        position += length
    return bytes(data)


def base_request(rng: random.Random, secret: bytes, username: bytes, password: bytes) -> bytes:
    authenticator = rng.randbytes(16)
    attributes = [(A.USER_NAME, username),
                  (A.USER_PASSWORD, radius.hide_user_password(password, secret, authenticator)),
                  (A.NAS_IDENTIFIER, b"fuzzer"), (A.CALLING_STATION_ID, b"192.0.2.1"),
                  (A.PROXY_STATE, rng.randbytes(rng.randint(1, 20)))]
    return radius.encode_request(A.ACCESS_REQUEST, rng.randrange(256), authenticator, attributes, secret,
                                 message_authenticator=True)


def _set_length(data: bytearray) -> None:
    struct.pack_into("!H", data, 2, min(len(data), 0xFFFF))


def mutate(rng: random.Random, raw: bytes) -> bytes:
    data = bytearray(raw)
    kind = rng.randrange(9)
    if kind == 0:  # truncated, Length left as it was
        return bytes(data[:rng.randrange(len(data))])
    if kind == 1:  # truncated, Length made to agree
        cut = data[:rng.randrange(20, len(data))]
        _set_length(cut)
        return bytes(cut)
    if kind == 2:  # oversized: more attributes than a packet may hold
        while len(data) < rng.choice((1000, 4096, 5000, 9000)):
            data += bytes((rng.choice((A.PROXY_STATE, A.REPLY_MESSAGE, A.CLASS, 240)), 255)) + rng.randbytes(253)
        _set_length(data)
        return bytes(data)
    if kind == 3:  # an attribute repeated many times
        attribute = rng.choice((A.USER_NAME, A.USER_PASSWORD, A.MESSAGE_AUTHENTICATOR, A.PROXY_STATE,
                                A.EAP_MESSAGE, A.VENDOR_SPECIFIC, A.CHAP_PASSWORD))
        value = rng.randbytes(16 if attribute in (A.USER_PASSWORD, A.MESSAGE_AUTHENTICATOR) else rng.randint(0, 40))
        for _ in range(rng.randint(2, 60)):
            data += bytes((attribute, len(value) + 2)) + value
        _set_length(data)
        return bytes(data)
    if kind == 4:  # an attribute whose length lies
        position = 20
        targets = []
        while position + 2 <= len(data) and data[position + 1] >= 2:
            targets.append(position)
            position += data[position + 1]
        if targets:
            data[rng.choice(targets) + 1] = rng.choice((0, 1, 2, 3, 17, 19, 254, 255))
        return bytes(data)
    if kind == 5:  # the header's Length lies
        struct.pack_into("!H", data, 2, rng.choice((0, 19, 20, len(data) - 1, len(data) + 1, 4097, 65535)))
        return bytes(data)
    if kind == 6:  # odd codes
        data[0] = rng.choice((0, 2, 3, 4, 5, 11, 12, 13, 40, 43, 255))
        return bytes(data)
    if kind == 7:  # flipped bits anywhere
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return bytes(data)
    # malformed values: empty, odd-length User-Password, junk vendor attributes, bad UTF-8 user names
    extra = rng.choice([
        bytes((A.USER_NAME, 2)), bytes((A.USER_NAME, 6)) + b"\xff\xfe\x00\x80",
        bytes((A.VENDOR_SPECIFIC, 8)) + struct.pack("!I", 311) + bytes((25, 9)),
        bytes((A.VENDOR_SPECIFIC, 3)) + b"\x00", bytes((A.EAP_MESSAGE, 2)), bytes((A.CHAP_PASSWORD, 19)) + bytes(17),
        bytes((A.CALLING_STATION_ID, 10)) + b"not an ip",
    ])
    data += extra
    _set_length(data)
    return bytes(data)


def unverifiable_request(rng: random.Random, username: bytes) -> bytes:
    """An Access-Request with nothing that depends on the shared secret: no Message-Authenticator, no User-Password
    (CHAP, EAP, or a User-Name alone) — answering it would let anyone test guesses of the secret offline."""
    attributes = [(A.USER_NAME, username)] + rng.choice([
        [(A.CHAP_PASSWORD, rng.randbytes(17))], [(A.EAP_MESSAGE, b"\x02\x01\x00\x05\x01")], [],
        [(A.CHAP_PASSWORD, rng.randbytes(17)), (A.CHAP_CHALLENGE, rng.randbytes(16))]])
    return radius.encode_request(A.ACCESS_REQUEST, rng.randrange(256), rng.randbytes(16), attributes, b"",
                                 message_authenticator=False)


def fuzz_datagrams(seed: int, count: int, secret: bytes, usernames: list[bytes]):
    """`count` datagrams: every tenth an intact but unverifiable request; the rest damaged, every other one of them
    with a Message-Authenticator valid over its damage."""
    rng = random.Random(seed)
    passwords = [b"push", b"123456", b"sms2", b"phone", b"", b"x" * 16, b"\x00\x01", "pässwörd".encode()]
    for index in range(count):
        if index % 10 == 5:
            yield unverifiable_request(rng, rng.choice(usernames))
            continue
        raw = base_request(rng, secret, rng.choice(usernames), rng.choice(passwords) or b"push")
        damaged = mutate(rng, raw)
        yield resign(damaged, secret) if index % 2 == 0 and len(damaged) >= 20 else damaged
