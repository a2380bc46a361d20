"""Verifying Duo's request signatures (Auth API), with duo_client's own canonicalization.

A request says neither its signature version nor its digest, so each candidate that fits what it carries is
tried: a 40-hex-digit HMAC can only be v2 with SHA-1; a 128-digit one is v5 (JSON body or GET) or v2 with SHA-512.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from duo_client.client import canonicalize

MAX_CLOCK_SKEW_SECONDS = 300


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
    if not authorization:
        raise SignatureError(40101, "Missing request credentials")
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise SignatureError(40101, "Missing request credentials")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise SignatureError(40101, "Missing request credentials") from None
    ikey, sep, signature = decoded.partition(":")
    if not sep:
        raise SignatureError(40101, "Missing request credentials")
    return ikey, signature.lower()


def _check_date(date: str | None, now: float) -> None:
    if not date:
        raise SignatureError(40104, "Missing request timestamp", "a Date header is required")
    parsed = email.utils.parsedate_tz(date)
    if parsed is None:
        raise SignatureError(40104, "Missing request timestamp", "the Date header must be in RFC 2822 form")
    sent = email.utils.mktime_tz(parsed)  # "-0000" means UTC, whatever this host's time zone
    if abs(now - sent) > MAX_CLOCK_SKEW_SECONDS:
        raise SignatureError(40105, "Bad request timestamp",
                             f"the Date header is more than {MAX_CLOCK_SKEW_SECONDS} seconds from the server's time")


def _candidates(request: SignedRequest, signature: str) -> list[tuple[int, Callable[[], str], object]]:
    host = signed_host(request.host)
    params = {key: list(values) for key, values in request.params.items()}
    candidates: list[tuple[int, Callable[[], str], object]] = []
    if len(signature) == 40:
        candidates.append((2, lambda: canonicalize(request.method, host, request.path, params, request.date, 2),
                           hashlib.sha1))
    elif len(signature) == 128:
        if request.body is not None or request.method.upper() in ("GET", "DELETE"):
            body = request.body if request.body is not None else ""
            candidates.append((5, lambda: canonicalize(
                request.method, host, request.path, params if request.body is None else {}, request.date, 5,
                body=body, additional_headers=dict(request.duo_headers)), hashlib.sha512))
        if request.body is None:
            candidates.append((2, lambda: canonicalize(request.method, host, request.path, params, request.date, 2),
                               hashlib.sha512))
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
            text = canonical()
        except ValueError:  # malformed X-Duo headers: cannot be a valid v5 signature
            continue
        expected = hmac.new(skey.encode("utf-8"), text.encode("utf-8"), digestmod).hexdigest()
        if hmac.compare_digest(expected, signature):
            return Verified(ikey=ikey, sig_version=sig_version)
    raise SignatureError(40103, "Invalid signature in request credentials")
