"""Which MD5 the RADIUS core runs on, chosen by name once per process, and the known-answer test it must pass first.

RADIUS cannot do without MD5: PAP hiding and the Request and Response Authenticators (RFC 2865) and the
Message-Authenticator's HMAC-MD5 (RFC 3579). A FIPS provider refuses MD5, as it must (it is not an approved
algorithm), so in FIPS mode the proxy runs RADIUS's MD5 outside the FIPS boundary, on Python's built-in MD5 — named
here, rather than reached by hashlib's silent fallback — as FreeRADIUS's and Duo's own FIPS modes do.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import ssl
from collections.abc import Callable
from typing import cast

from . import packet
from .packet import Md5Constructor, RandomSource

OPENSSL = "openssl"  # OpenSSL's MD5, through hashlib: the fastest; refused under a FIPS provider
BUILTIN = "builtin"  # Python's own MD5 (the _md5 module): no OpenSSL involved

DESCRIPTIONS = {
    OPENSSL: "OpenSSL's MD5 (hashlib)",
    BUILTIN: "Python's built-in MD5 (_md5), outside OpenSSL and any FIPS boundary",
}

OPENSSL_DRBG = "openssl-drbg"  # ssl.RAND_bytes: the FIPS provider's DRBG when OpenSSL runs in FIPS mode
KERNEL = "kernel"  # os.urandom


class Md5Unavailable(Exception):
    """The MD5 asked for cannot run in this process (OpenSSL refuses it, or Python was built without _md5)."""


class Md5SelfTestFailed(Exception):
    """An MD5 that gives wrong answers on the published test vectors: the proxy must not start on it."""


def constructor(name: str) -> Md5Constructor:
    """The MD5 constructor called `name`, after one call that proves it runs here."""
    if name == OPENSSL:
        if hashlib.md5.__module__ != "_hashlib":  # hashlib fell back to the built-in one already
            raise Md5Unavailable("hashlib's MD5 is not OpenSSL's in this Python")
        try:
            hashlib.md5(b"")  # for security: what a FIPS provider refuses
        except ValueError as exc:
            raise Md5Unavailable(f"OpenSSL refuses MD5 ({exc})") from None
        return cast(Md5Constructor, hashlib.md5)
    if name == BUILTIN:
        try:
            builtin = importlib.import_module("_md5").md5
        except ImportError:
            raise Md5Unavailable("this Python was built without its own MD5 (_md5)") from None
        return cast(Md5Constructor, builtin)
    raise ValueError(f"unknown MD5 implementation {name!r}; one of {', '.join(DESCRIPTIONS)}")


def select(name: str) -> str:
    """Bind the MD5 called `name` into the RADIUS core after it passes self_test; on failure the previous MD5 stays
    bound and Md5Unavailable or Md5SelfTestFailed is raised. Returns the implementation's description."""
    chosen = constructor(name)
    previous = packet._new_md5
    packet.bind_md5(chosen)
    try:
        self_test()
    except Md5SelfTestFailed:
        packet.bind_md5(previous)
        raise
    return DESCRIPTIONS[name]


def select_random_source(name: str) -> str:
    """Bind the source of Request Authenticators: OPENSSL_DRBG or KERNEL. Returns `name`."""
    sources: dict[str, RandomSource] = {OPENSSL_DRBG: ssl.RAND_bytes, KERNEL: os.urandom}
    if name not in sources:
        raise ValueError(f"unknown random source {name!r}; one of {', '.join(sources)}")
    if len(sources[name](16)) != 16:
        raise Md5SelfTestFailed(f"the random source {name} did not give 16 octets")
    packet.bind_random_source(sources[name])
    return name


# --- the known-answer test ----------------------------------------------------------------------------------------
# RFC 1321 A.5 (MD5 test suite), RFC 2202 §2 (HMAC-MD5 test cases 1, 2 and 6: a short key, a text key, a key longer
# than the block) and the Access-Request and Access-Accept of RFC 2865 §7.1 (user nemo, password arctangent, shared
# secret xyzzy5461): the User-Password as hidden there and the Access-Accept's Response Authenticator.

MD5_VECTORS = (
    (b"", "d41d8cd98f00b204e9800998ecf8427e"),
    (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
    (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
    (b"1234567890" * 8, "57edf4a22be3c955ac49da2e2107b67a"),
)
HMAC_MD5_VECTORS = (
    (b"\x0b" * 16, b"Hi There", "9294727a3638bb1c13f48ef8158bfc9d"),
    (b"Jefe", b"what do ya want for nothing?", "750c783e6ab0b503eaa86e310a5db738"),
    (b"\xaa" * 80, b"Test Using Larger Than Block-Size Key - Hash Key First", "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd"),
)
RFC2865_SECRET = b"xyzzy5461"
RFC2865_REQUEST = bytes.fromhex("010000380f403f9473978057bd83d5cb98f4227a01066e656d6f02120dbe708d93d413ce3196e43f"
                                "782a0aee0406c0a80110050600000003")
RFC2865_ACCEPT = bytes.fromhex("0200002686fe220e7624ba2a1005f6bf9b55e0b2060600000001"
                               "0f06000000000e06c0a80103")


def self_test() -> None:
    """The bound MD5, HMAC-MD5 and the RADIUS functions built on them against published answers, and a round trip
    of a signed request and reply. Raises Md5SelfTestFailed naming the first that fails."""

    def expect(ok: bool, what: str) -> None:
        if not ok:
            raise Md5SelfTestFailed(f"RADIUS MD5 self-test failed: {what}")

    for data, digest in MD5_VECTORS:
        expect(packet._md5(data).hex() == digest, f"MD5 of {data[:16]!r} (RFC 1321)")
    for number, (key, data, digest) in enumerate(HMAC_MD5_VECTORS, start=1):
        packet._hmac_md5_pads.cache_clear()  # the pads of a key are cached: compute them now, with this MD5
        expect(packet._hmac_md5(key, data).hex() == digest, f"HMAC-MD5 vector {number} (RFC 2202)")
    request = packet.parse(RFC2865_REQUEST)
    hidden = request.get(2)
    expect(hidden is not None and packet.hide_user_password(b"arctangent", RFC2865_SECRET, request.authenticator)
           == hidden, "User-Password hiding of the RFC 2865 §7.1 example")
    expect(hidden is not None and packet.pap_password(hidden, RFC2865_SECRET, request.authenticator)
           == b"arctangent", "User-Password of the RFC 2865 §7.1 example")
    try:
        packet.verify_reply(RFC2865_ACCEPT, request.authenticator, RFC2865_SECRET)
    except (packet.MalformedPacket, packet.BadReplyAuthenticator):
        expect(False, "Response Authenticator of the RFC 2865 §7.1 Access-Accept")
    _round_trip(expect)
    packet._hmac_md5_pads.cache_clear()


def _round_trip(expect: Callable[[bool, str], None]) -> None:
    """A request with User-Password and Message-Authenticator, and a signed reply to it, each checked."""
    secret, authenticator = b"self-test shared secret", bytes(range(16))
    password = b"a password longer than sixteen octets"
    data = packet.encode_request(1, 7, authenticator, [(1, b"self-test"), (2, packet.hide_user_password(
        password, secret, authenticator))], secret)
    request = packet.parse(data)
    expect(packet.verify_request_message_authenticator(request, secret), "Message-Authenticator round trip")
    hidden = request.get(2)
    expect(hidden is not None and packet.pap_password(hidden, secret, authenticator) == password,
           "User-Password round trip")
    reply = packet.encode_reply(2, request, secret, [(18, b"ok")])
    try:
        packet.verify_reply(reply, authenticator, secret, require_message_authenticator=True)
    except (packet.MalformedPacket, packet.BadReplyAuthenticator):
        expect(False, "signed reply round trip")
