"""The RADIUS wire format, sans-IO: parse and encode packets, check and make authenticators and the
Message-Authenticator, hide and reveal User-Password (RFC 2865, RFC 3579, RFC 5997).

This is the proxy's hot path, so parsing is one pass over the octets and values stay plain tuples of bytes.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import importlib
import os
import ssl
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, Self

from .constants import (
    ACCESS_REQUEST,
    ACCOUNTING_REQUEST,
    COA_REQUEST,
    DISCONNECT_REQUEST,
    MESSAGE_AUTHENTICATOR,
    STATUS_SERVER,
    USER_PASSWORD,
    attribute_name,
)

HEADER_LENGTH = 20
MAX_PACKET_LENGTH = 4096
MAX_ATTRIBUTE_VALUE_LENGTH = 253
AUTHENTICATOR_LENGTH = 16
MAX_USER_PASSWORD_LENGTH = 128

_HEADER = struct.Struct("!BBH")
_ZERO_AUTHENTICATOR = bytes(16)
_MESSAGE_AUTHENTICATOR_HEADER = bytes((MESSAGE_AUTHENTICATOR, 18))
_MESSAGE_AUTHENTICATOR_PLACEHOLDER = _MESSAGE_AUTHENTICATOR_HEADER + _ZERO_AUTHENTICATOR
# These requests carry a hash, not a nonce, in the Authenticator field, so their Message-Authenticator is computed
# with zeros there (RFC 5176 §3.3; pyrad does the same for Accounting-Request).
_ZERO_VECTOR_REQUEST_CODES = frozenset({ACCOUNTING_REQUEST, DISCONNECT_REQUEST, COA_REQUEST})

MALFORMED_REASONS = frozenset({
    "too_short", "too_long", "length_mismatch", "bad_attribute_length", "bad_message_authenticator_length",
    "duplicate_message_authenticator", "duplicate_user_password", "bad_user_password_length",
})


class MalformedPacket(ValueError):
    """Octets that are not a RADIUS packet. `reason` is one of MALFORMED_REASONS, short enough for a metric label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


class BadReplyAuthenticator(ValueError):
    """A reply that the shared secret did not sign: wrong secret, tampering, or a reply to another request.

    `reason` is "response_authenticator", "message_authenticator" or "missing_message_authenticator".
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True, repr=False)
class Packet:
    """One parsed packet. `attributes` keeps wire order and repeats (Proxy-State, Reply-Message, Class);
    `raw` is exactly the Length octets received, which the authenticator checks need."""

    code: int
    identifier: int
    authenticator: bytes
    attributes: tuple[tuple[int, bytes], ...]
    raw: bytes

    def get(self, attribute: int) -> bytes | None:
        """The first value of an attribute, or None."""
        for found, value in self.attributes:
            if found == attribute:
                return value
        return None

    def get_all(self, attribute: int) -> list[bytes]:
        return [value for found, value in self.attributes if found == attribute]

    def has(self, attribute: int) -> bool:
        for found, _ in self.attributes:  # noqa: SIM110 - a plain loop: any() with a generator is slower here
            if found == attribute:
                return True
        return False

    def __repr__(self) -> str:
        # Values include hidden passwords, State and Class; a log line or a traceback shows only names and sizes.
        listed = ", ".join(f"{attribute_name(found)}({len(value)})" for found, value in self.attributes)
        return f"Packet(code={self.code}, identifier={self.identifier}, attributes=[{listed}])"


def parse(data: bytes) -> Packet:
    """Check the structure of a datagram (RFC 2865 §3 and §5) and split it into attributes.

    Raises MalformedPacket, and nothing else, whatever the octets. Octets beyond the Length field are padding and
    ignored, as RFC 2865 §3 requires. No secret is involved: the authenticator checks are separate.
    """
    received = len(data)
    if received < HEADER_LENGTH:
        raise MalformedPacket("too_short", f"{received} octets; the header alone is 20")
    code, identifier, length = _HEADER.unpack_from(data)
    if length < HEADER_LENGTH:
        raise MalformedPacket("too_short", f"Length field says {length}; the header alone is 20")
    if length > MAX_PACKET_LENGTH:
        raise MalformedPacket("too_long", f"Length field says {length}; RFC 2865 allows at most 4096")
    if length > received:
        raise MalformedPacket("length_mismatch", f"Length field says {length}, the datagram has {received} octets")
    raw = data if length == received else data[:length]
    if not isinstance(raw, bytes):  # a bytearray or memoryview from a receive buffer
        raw = bytes(raw)

    attributes: list[tuple[int, bytes]] = []
    seen_message_authenticator = seen_user_password = False
    position = HEADER_LENGTH
    while position < length:
        if position + 2 > length:
            raise MalformedPacket("bad_attribute_length", f"a lone octet at offset {position}")
        attribute = raw[position]
        end = position + raw[position + 1]
        if end < position + 2 or end > length:
            raise MalformedPacket(
                "bad_attribute_length", f"attribute {attribute} at offset {position} says {raw[position + 1]}")
        if attribute == MESSAGE_AUTHENTICATOR:
            # RFC 3579 §3.2: at most one; a second would let an attacker choose which one we check
            if seen_message_authenticator:
                raise MalformedPacket("duplicate_message_authenticator")
            if end - position != 18:
                raise MalformedPacket("bad_message_authenticator_length", f"{end - position} octets; must be 18")
            seen_message_authenticator = True
        elif attribute == USER_PASSWORD:
            if seen_user_password:  # RFC 2865 §5.2 allows one; two means a confused or hostile client
                raise MalformedPacket("duplicate_user_password")
            seen_user_password = True
        attributes.append((attribute, raw[position + 2:end]))
        position = end
    return Packet(code, identifier, raw[4:20], tuple(attributes), raw)


# --- digests and random bytes ---------------------------------------------------------------------------------
# RADIUS mandates MD5 (RFC 2865) and HMAC-MD5 (RFC 3579). Which MD5 computes them is a binding made once per process
# (duomfa.radius.md5.select; the proxy does it at start and self-tests it), so the hot path makes no choice per
# packet. Until then, as the module is imported: Python's built-in MD5 where OpenSSL runs in FIPS mode (the FIPS
# image, the control plane included: a FIPS provider refuses MD5), else hashlib's with usedforsecurity=False. HMAC
# (RFC 2104) is built here on that MD5, with the key pads hashed once per secret, which also makes it about twice as
# fast as hmac.digest(..., "md5") on OpenSSL 3.


class Md5Hash(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...
    def copy(self) -> Self: ...


Md5Constructor = Callable[[bytes], Md5Hash]
RandomSource = Callable[[int], bytes]

_INNER_PAD = bytes(octet ^ 0x36 for octet in range(256))
_OUTER_PAD = bytes(octet ^ 0x5C for octet in range(256))
_MD5_BLOCK = 64


def _openssl_in_fips_mode() -> bool:
    import _hashlib

    return bool(_hashlib.get_fips_mode())


_new_md5: Md5Constructor = (importlib.import_module("_md5").md5 if _openssl_in_fips_mode()
                            else functools.partial(hashlib.md5, usedforsecurity=False))
# Request Authenticators are nonces that salt the password hiding: OpenSSL's DRBG where OpenSSL runs in FIPS mode,
# the kernel's otherwise; duomfa.radius.md5.select_random_source makes it explicit at the proxy's start.
_random_bytes: RandomSource = ssl.RAND_bytes if _openssl_in_fips_mode() else os.urandom


def bind_md5(constructor: Md5Constructor) -> None:
    """Make `constructor` (bytes -> an MD5 object) the MD5 of every RADIUS digest from now on. Call
    duomfa.radius.md5.select, which self-tests it, rather than this."""
    global _new_md5
    _new_md5 = constructor
    _hmac_md5_pads.cache_clear()


def bind_random_source(source: RandomSource) -> None:
    """Make `source` (n -> n random octets) the source of Request Authenticators from now on."""
    global _random_bytes
    _random_bytes = source


def _md5(data: bytes) -> bytes:
    return _new_md5(data).digest()


@functools.lru_cache(maxsize=64)
def _hmac_md5_pads(secret: bytes) -> tuple[Md5Hash, Md5Hash]:
    key = _md5(secret) if len(secret) > _MD5_BLOCK else secret
    key = key.ljust(_MD5_BLOCK, b"\0")
    return _new_md5(key.translate(_INNER_PAD)), _new_md5(key.translate(_OUTER_PAD))


def _hmac_md5(secret: bytes, message: bytes) -> bytes:
    inner_start, outer_start = _hmac_md5_pads(secret)
    inner = inner_start.copy()
    inner.update(message)
    outer = outer_start.copy()
    outer.update(inner.digest())
    return outer.digest()


def _message_authenticator_offset(packet: Packet) -> int | None:
    offset = HEADER_LENGTH
    for attribute, value in packet.attributes:
        if attribute == MESSAGE_AUTHENTICATOR:
            return offset
        offset += 2 + len(value)
    return None


def _message_authenticator_matches(raw: bytes, offset: int, vector: bytes, secret: bytes) -> bool:
    # RFC 3579 §3.2: HMAC-MD5 over the packet with the Authenticator field set to `vector` and the
    # Message-Authenticator value set to zeros
    signed = raw[:4] + vector + raw[HEADER_LENGTH:offset + 2] + _ZERO_AUTHENTICATOR + raw[offset + 18:]
    return hmac.compare_digest(_hmac_md5(secret, signed), raw[offset + 2:offset + 18])


# --- server side ----------------------------------------------------------------------------------------------

def verify_request_message_authenticator(packet: Packet, secret: bytes) -> bool:
    """True when the request carries a Message-Authenticator made with this secret (RFC 3579 §3.2);
    False when it is wrong or absent."""
    offset = _message_authenticator_offset(packet)
    if offset is None:
        return False
    vector = _ZERO_AUTHENTICATOR if packet.code in _ZERO_VECTOR_REQUEST_CODES else packet.authenticator
    return _message_authenticator_matches(packet.raw, offset, vector, secret)


def decrypt_user_password(hidden: bytes, secret: bytes, request_authenticator: bytes) -> bytes:
    """Reverse the User-Password hiding of RFC 2865 §5.2; the result keeps its NUL padding."""
    size = len(hidden)
    if size % 16 or not 16 <= size <= MAX_USER_PASSWORD_LENGTH:
        raise MalformedPacket("bad_user_password_length", f"{size} octets; must be 16 to 128 in steps of 16")
    # b(i) = MD5(secret + c(i-1)) with c(0) the Request Authenticator: every block is known before XORing
    keystream = _md5(secret + request_authenticator)
    for start in range(16, size, 16):
        keystream += _md5(secret + hidden[start - 16:start])
    return (int.from_bytes(hidden, "big") ^ int.from_bytes(keystream, "big")).to_bytes(size, "big")


def pap_password(hidden: bytes, secret: bytes, request_authenticator: bytes) -> bytes | None:
    """The PAP password without its padding, or None when the plaintext is not password-then-NULs.

    None proves the secret wrong; a value does not prove it right. With a wrong secret the plaintext is noise,
    and noise without any NUL in it (94% of single-block passwords) looks like a 16-octet password. Callers that
    pick among several secrets must also check the value is a plausible password (e.g. printable text).
    Raises MalformedPacket("bad_user_password_length") like decrypt_user_password.
    """
    password = decrypt_user_password(hidden, secret, request_authenticator).rstrip(b"\0")
    if not password or b"\0" in password:
        return None
    return password


def encode_reply(code: int, request: Packet, secret: bytes, attributes: Iterable[tuple[int, bytes]]) -> bytes:
    """A signed reply to `request`: Message-Authenticator first, then `attributes` in the order given.

    The Message-Authenticator always goes in, first, against BlastRADIUS (CVE-2024-3596). Proxy-State is not
    copied from the request: pass request.get_all(PROXY_STATE) among the attributes (RFC 2865 §5.33).
    Raises ValueError for a value over 253 octets, a Message-Authenticator among the attributes, or a packet
    over 4096 octets.
    """
    body = _encode_attributes(attributes)
    length = HEADER_LENGTH + 18 + len(body)
    if length > MAX_PACKET_LENGTH:
        raise ValueError(f"reply would be {length} octets; RADIUS allows at most {MAX_PACKET_LENGTH}")
    header = _pack_header(code, request.identifier, length)
    # RFC 3579 §3.2: a reply's Message-Authenticator is computed with the Request Authenticator in place
    vector = _ZERO_AUTHENTICATOR if request.code == ACCOUNTING_REQUEST else request.authenticator
    message_authenticator = _hmac_md5(secret, header + vector + _MESSAGE_AUTHENTICATOR_PLACEHOLDER + body)
    signed_attributes = _MESSAGE_AUTHENTICATOR_HEADER + message_authenticator + body
    # RFC 2865 §3: the Response Authenticator covers the attributes as sent, Message-Authenticator value included
    response_authenticator = _md5(header + request.authenticator + signed_attributes + secret)
    return header + response_authenticator + signed_attributes


def split_text_attribute(attribute: int, text: bytes) -> list[tuple[int, bytes]]:
    """`text` as as many attributes of one type as it takes (RFC 2865 §5.18: a NAS joins repeated Reply-Messages).

    Cuts fall between UTF-8 characters, so NASes that show each piece on its own line show valid text. Empty
    text gives no attribute, as a zero-length string must not be sent.
    """
    pieces: list[tuple[int, bytes]] = []
    start, size = 0, len(text)
    while start < size:
        end = start + MAX_ATTRIBUTE_VALUE_LENGTH
        if end >= size:
            end = size
        else:
            # step back over continuation octets (10xxxxxx); a UTF-8 character is at most 4 octets
            cut = end
            while cut > end - 3 and text[cut] & 0xC0 == 0x80:
                cut -= 1
            end = cut
        pieces.append((attribute, text[start:end]))
        start = end
    return pieces


# --- client side (radtest, the load generator, tests) ---------------------------------------------------------

def new_request_authenticator() -> bytes:
    """A Request Authenticator: RFC 2865 §3 wants it unpredictable, and it salts the password hiding."""
    return _random_bytes(AUTHENTICATOR_LENGTH)


def hide_user_password(password: bytes, secret: bytes, request_authenticator: bytes) -> bytes:
    """The User-Password value for `password` (RFC 2865 §5.2). A NUL inside the password would end it for the
    server, so callers should not send one."""
    if len(password) > MAX_USER_PASSWORD_LENGTH:
        raise ValueError(f"password is {len(password)} octets; RADIUS carries at most 128")
    size = max(16, -(-len(password) // 16) * 16)
    plaintext = password.ljust(size, b"\0")
    hidden = b""
    previous = request_authenticator
    for start in range(0, size, 16):
        block = int.from_bytes(plaintext[start:start + 16], "big") ^ int.from_bytes(_md5(secret + previous), "big")
        previous = block.to_bytes(16, "big")
        hidden += previous
    return hidden


def encode_request(code: int, identifier: int, authenticator: bytes, attributes: Iterable[tuple[int, bytes]],
                   secret: bytes, *, message_authenticator: bool = True) -> bytes:
    """An Access-Request or Status-Server, with a Message-Authenticator first unless told otherwise.

    `authenticator` is the Request Authenticator (new_request_authenticator()); hide User-Password with the same
    one. Other codes raise ValueError: their Authenticator field is a hash, which this function does not compute.
    Status-Server without Message-Authenticator raises ValueError too (RFC 5997 §3 requires it).
    """
    if code not in (ACCESS_REQUEST, STATUS_SERVER):
        raise ValueError(f"encode_request builds Access-Request (1) and Status-Server (12), not code {code}")
    if code == STATUS_SERVER and not message_authenticator:
        raise ValueError("Status-Server must carry a Message-Authenticator (RFC 5997 §3)")
    if len(authenticator) != AUTHENTICATOR_LENGTH:
        raise ValueError(f"Request Authenticator is {len(authenticator)} octets; must be 16")
    body = _encode_attributes(attributes)
    length = HEADER_LENGTH + len(body) + (18 if message_authenticator else 0)
    if length > MAX_PACKET_LENGTH:
        raise ValueError(f"request would be {length} octets; RADIUS allows at most {MAX_PACKET_LENGTH}")
    header = _pack_header(code, identifier, length) + authenticator
    if not message_authenticator:
        return header + body
    signature = _hmac_md5(secret, header + _MESSAGE_AUTHENTICATOR_PLACEHOLDER + body)
    return header + _MESSAGE_AUTHENTICATOR_HEADER + signature + body


def verify_reply(data: bytes, request_authenticator: bytes, secret: bytes, *,
                 require_message_authenticator: bool = False) -> Packet:
    """Parse a reply to an Access-Request or Status-Server and check that `secret` signed it for that request.

    Checks the Response Authenticator (RFC 2865 §3) and, when present or required, the Message-Authenticator
    (RFC 3579 §3.2). Raises MalformedPacket for bad structure, BadReplyAuthenticator for a bad signature.
    Matching the Identifier to the request is the caller's job: it is how the caller found the request.
    """
    packet = parse(data)
    raw = packet.raw
    expected = _md5(raw[:4] + request_authenticator + raw[HEADER_LENGTH:] + secret)
    if not hmac.compare_digest(expected, packet.authenticator):
        raise BadReplyAuthenticator("response_authenticator")
    offset = _message_authenticator_offset(packet)
    if offset is None:
        if require_message_authenticator:
            raise BadReplyAuthenticator("missing_message_authenticator")
    elif not _message_authenticator_matches(raw, offset, request_authenticator, secret):
        raise BadReplyAuthenticator("message_authenticator")
    return packet


# --- encoding helpers -----------------------------------------------------------------------------------------

def _pack_header(code: int, identifier: int, length: int) -> bytes:
    if not (0 <= code <= 255 and 0 <= identifier <= 255):
        raise ValueError(f"code {code} and identifier {identifier} must each fit one octet")
    return _HEADER.pack(code, identifier, length)


def _encode_attributes(attributes: Iterable[tuple[int, bytes]]) -> bytes:
    parts: list[bytes] = []
    for attribute, value in attributes:
        if attribute == MESSAGE_AUTHENTICATOR:
            raise ValueError("the encoder adds the Message-Authenticator itself; do not pass one")
        if not 0 <= attribute <= 255:
            raise ValueError(f"attribute type {attribute} does not fit one octet")
        size = len(value)
        if size > MAX_ATTRIBUTE_VALUE_LENGTH:
            raise ValueError(f"{attribute_name(attribute)} value is {size} octets; an attribute holds at most 253 "
                             "(split text with split_text_attribute)")
        parts.append(bytes((attribute, size + 2)))
        parts.append(value)
    return b"".join(parts)
