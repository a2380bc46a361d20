"""Verifying Duo's request signatures (Auth API), with duo_client's own canonicalization.

A request says neither its signature version nor its digest, so each candidate that fits what it carries is
tried: a 40-hex-digit HMAC can only be v2 with SHA-1; a 128-digit one is v5 (JSON body or GET) or v2 with SHA-512.
v2 covers query or form parameters only, so it is never a candidate for a request that carries a JSON body.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from duo_client.client import canonicalize

MAX_CLOCK_SKEW_SECONDS = 300
DigestMod = Callable[..., Any]  # hashlib.sha1 or hashlib.sha512
# base64 of a 20-character ikey, a colon and a 128-digit signature is 200 characters; far longer is not Duo's
MAX_CREDENTIALS_CHARS = 1024


class SignatureError(Exception):
    """Why a request's credentials were refused; `code` and `message` are Duo's."""

    def __init__(self, code: int, message: str, detail: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail


@dataclass(frozen=True)
class SignedRequest:
    method: str
    host: str  # the Host header; the signature covers the name without the port
    path: str
    params: Mapping[str, list[str]]  # query (GET) or form body (v2 POST)
    body: str | None  # raw JSON body of a v5 POST, else None
    date: str | None
    authorization: str | None
    duo_headers: Mapping[str, str]  # X-Duo-* headers, as sent


@dataclass(frozen=True)
class Verified:
    ikey: str
    sig_version: int


def signed_host(host_header: str) -> str:
    """The host name a client signed: the Host header without its port."""
    host = host_header.strip()
    if host.startswith("["):
        end = host.find("]")
        return host[1:end] if end != -1 else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _credentials(authorization: str | None) -> tuple[str, str]:
    """(ikey, signature) from `Basic base64(ikey:hex signature)`; anything else is missing credentials (40101).

    The header arrives as whatever bytes the client sent (aiohttp keeps undecodable ones as surrogates), so every
    step refuses rather than raises: non-ASCII, over-long, not base64, no colon. (An empty ikey is then an unknown
    one, 40102, and an empty signature a wrong one, 40103.)
    """
    if not authorization:
        raise SignatureError(40101, "Missing request credentials")
    scheme, _, encoded = authorization.partition(" ")
    encoded = encoded.strip()
    if (scheme.lower() != "basic" or not encoded or len(encoded) > MAX_CREDENTIALS_CHARS
            or not encoded.isascii()):
        raise SignatureError(40101, "Missing request credentials")
    try:
        # ASCII, not UTF-8: a signature is hex, and hmac.compare_digest raises on non-ASCII text
        decoded = base64.b64decode(encoded, validate=True).decode("ascii")
    except ValueError:  # binascii.Error and UnicodeDecodeError are both ValueErrors
        raise SignatureError(40101, "Missing request credentials") from None
    ikey, sep, signature = decoded.partition(":")
    if not sep:
        raise SignatureError(40101, "Missing request credentials")
    return ikey, signature.lower()


def claimed_ikey(authorization: str | None) -> str | None:
    """The ikey an Authorization header names (an ikey is no secret: logs may show it), whether or not its
    signature holds; None when the header is not Basic credentials."""
    try:
        return _credentials(authorization)[0]
    except SignatureError:
        return None


def _check_date(date: str | None, now: float) -> None:
    if not date:
        raise SignatureError(40104, "Missing request timestamp", "a Date header is required")
    try:
        parsed = email.utils.parsedate_tz(date)
        sent = email.utils.mktime_tz(parsed) if parsed is not None else None  # "-0000" means UTC, whatever the host's
    except (OverflowError, ValueError):  # a year beyond what the platform's time functions hold
        sent = None
    if sent is None:
        raise SignatureError(40104, "Missing request timestamp", "the Date header must be in RFC 2822 form")
    if abs(now - sent) > MAX_CLOCK_SKEW_SECONDS:
        raise SignatureError(40105, "Bad request timestamp",
                             f"the Date header is more than {MAX_CLOCK_SKEW_SECONDS} seconds from the server's time")


def _candidates(request: SignedRequest, signature: str) -> list[tuple[int, Callable[[], str], DigestMod]]:
    host = signed_host(request.host)
    params = {key: list(values) for key, values in request.params.items()}
    candidates: list[tuple[int, Callable[[], str], DigestMod]] = []
    if len(signature) == 128 and (request.body is not None or request.method.upper() in ("GET", "DELETE")):
        body = request.body if request.body is not None else ""
        candidates.append((5, lambda: canonicalize(
            request.method, host, request.path, params if request.body is None else {}, request.date, 5,
            body=body, additional_headers=dict(request.duo_headers)), hashlib.sha512))
    # v2 signs the query or form parameters and nothing else: a request with a JSON body can only be v5, whose
    # signature covers the body. Otherwise a v2 signature over no parameters would vouch for any JSON body.
    if request.body is None and len(signature) in (40, 128):
        digestmod = hashlib.sha1 if len(signature) == 40 else hashlib.sha512
        candidates.append((2, lambda: canonicalize(request.method, host, request.path, params, request.date, 2),
                           digestmod))
    return candidates


def verify(request: SignedRequest, skey_for: Callable[[str], str | None], now: float | None = None) -> Verified:
    """Check a request's Duo signature; raise SignatureError with Duo's code and message if it fails."""
    ikey, signature = _credentials(request.authorization)
    _check_date(request.date, time.time() if now is None else now)
    skey = skey_for(ikey)
    if skey is None:
        raise SignatureError(40102, "Invalid integration key in request credentials")
    for sig_version, canonical, digestmod in _candidates(request, signature):
        try:
            message = canonical().encode("utf-8")
        except ValueError:  # malformed X-Duo headers, or undecodable bytes in the path or host: no valid signature
            continue
        expected = hmac.new(skey.encode("utf-8"), message, digestmod).hexdigest()
        if hmac.compare_digest(expected, signature):
            return Verified(ikey=ikey, sig_version=sig_version)
    raise SignatureError(40103, "Invalid signature in request credentials")
