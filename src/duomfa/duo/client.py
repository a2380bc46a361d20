"""The proxy's Duo Auth API v2 client: duo_client's own signing, an aiohttp transport, typed results and errors.

Every call is an await on one pooled HTTPS session: pending pushes cost sockets, not threads. Long-polls
(`auth_status`, a synchronous push) get their own share of the pool, so they never starve the short calls into a
timeout that the proxy would take for "Duo is down".
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import random
import socket
import ssl
import time
import urllib.parse
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from aiohttp.abc import AbstractResolver
from duo_client.client import DEFAULT_CA_CERTS, normalize_params, sign
from yarl import URL

from duomfa import __version__
from duomfa.duo.errors import DuoApiError, DuoBadResponse, DuoBusy, DuoFault, DuoUnavailable
from duomfa.duo.results import AuthResult, DuoDevice, PreauthResult
from duomfa.fips import FIPS_TLS12_CIPHERS
from duomfa.logline import JsonLog, standard_output
from duomfa.secret import Secret

SIG_VERSION = 5  # duo_client 5.7's default: JSON body for POST, query for GET
LONG_POLL_GRACE_SECONDS = 65.0  # Duo holds a push or call for 60 s; a long-poll answers within that
PREAUTH_RESULTS = frozenset({"allow", "auth", "deny", "enroll"})
DECIDED_RESULTS = frozenset({"allow", "deny"})  # /auth (synchronous) and a finished /auth_status
OUT_OF_BAND_FACTORS = frozenset({"auto", "push", "phone"})  # a synchronous auth with these waits for a person
TIMEOUT_STATUS_MSG = "Login timed out."  # Duo's own text for an unanswered push
MIN_POLL_INTERVAL = 0.5  # seconds between auth_status calls, should Duo answer "waiting" without long-polling
RATE_LIMIT_BACKOFF_CAP = 8.0  # seconds: the longest single wait after an HTTP 429

ResponseObserver = Callable[[str, float, "int | None"], None]
T = TypeVar("T")


@dataclass(frozen=True)
class SignedCall:
    """One HTTP request exactly as duo_client 5.7 would send it (bar User-Agent)."""

    method: str
    path: str
    query: str  # already encoded; "" when there are no parameters
    body: bytes | None
    headers: dict[str, str]


def sign_call(method: str, path: str, params: Mapping[str, str], *, ikey: str, skey: str, host: str,
              date: str) -> SignedCall:
    """Build a signature-v5 request the way `duo_client.Client.api_call` does, signing with its `sign`."""
    if method in ("POST", "PUT", "PATCH"):
        body = json.dumps(dict(params), sort_keys=True, separators=(",", ":"))
        authorization = sign(ikey, skey, method, host, path, date, SIG_VERSION, {}, body=body,
                             digestmod=hashlib.sha512, additional_headers={})
        headers = {"Authorization": authorization, "Date": date, "Content-Type": "application/json"}
        return SignedCall(method, path, "", body.encode("utf-8"), headers)
    normalized = normalize_params(dict(params))
    authorization = sign(ikey, skey, method, host, path, date, SIG_VERSION, normalized, body="",
                         digestmod=hashlib.sha512, additional_headers={})
    query = urllib.parse.urlencode(normalized, doseq=True)
    return SignedCall(method, path, query, None, {"Authorization": authorization, "Date": date})


def split_api_host(api_host: str) -> tuple[str, str]:
    """(the host name the signature covers, the host[:port] to connect to) for an api_host such as
    "api-xxxx.duosecurity.com", "127.0.0.1:8443" or "[::1]:8443"."""
    parts = urllib.parse.urlsplit("//" + api_host.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    host = parts.hostname
    if not host or port == -1 or parts.path or parts.query or parts.fragment or parts.username is not None:
        raise ValueError(f"api_host {api_host!r} must be a host name or address, optionally with :port "
                         "(no https://, no path)")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return host, netloc


def tls_context(ca_certs: str | None, *, fips_mode: bool = False) -> ssl.SSLContext:
    """Verify Duo's certificate and host name against Duo's pinned CA bundle, or the given CA file instead. In FIPS
    mode only TLS 1.2 and 1.3 with ECDHE and AES-GCM are offered (duomfa.fips.FIPS_TLS12_CIPHERS; TLS 1.3 suites
    are what the FIPS provider allows)."""
    context = ssl.create_default_context(cafile=ca_certs or DEFAULT_CA_CERTS)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if fips_mode:
        context.set_ciphers(FIPS_TLS12_CIPHERS)
    return context


def fault_from(exc: BaseException, endpoint: str | None = None, *, replied: bool = False) -> DuoFault:
    """The DuoFault a transport failure stands for. `replied`: the status line had already arrived, so whatever
    broke afterwards broke Duo's answer, not the way to Duo."""
    detail = str(exc)
    message = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    if isinstance(exc, (aiohttp.ClientConnectorCertificateError, ssl.SSLCertVerificationError)):
        return DuoBadResponse("tls_verify", message, endpoint=endpoint)
    if isinstance(exc, (ssl.SSLError, aiohttp.ClientSSLError)):
        return DuoBadResponse("tls", message, endpoint=endpoint)
    if replied or isinstance(exc, aiohttp.ClientPayloadError):
        return DuoBadResponse("truncated", f"the answer broke off: {message}", endpoint=endpoint)
    if isinstance(exc, aiohttp.ClientHttpProxyError):  # the web proxy answered CONNECT with an error
        if exc.status >= 500:  # the proxy could not reach Duo
            return DuoUnavailable("http_5xx", f"web proxy: HTTP {exc.status} {exc.message}", endpoint=endpoint,
                                  http_status=exc.status)
        return DuoBadResponse("bad_response", f"web proxy: HTTP {exc.status} {exc.message}", endpoint=endpoint,
                              http_status=exc.status)
    if isinstance(exc, aiohttp.ClientResponseError):  # something answered, but not in HTTP Duo would speak
        return DuoBadResponse("bad_response", message, endpoint=endpoint)
    if isinstance(exc, asyncio.TimeoutError):  # aiohttp's ServerTimeoutError is one too
        return DuoUnavailable("timeout", message if detail else "no answer in time", endpoint=endpoint)
    if isinstance(exc, (aiohttp.ClientConnectorDNSError, socket.gaierror)) or (
            isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, socket.gaierror)):
        return DuoUnavailable("dns", message, endpoint=endpoint)
    return DuoUnavailable("connect", message, endpoint=endpoint)


def decode_response(status: int, reason: str | None, body: bytes, endpoint: str | None = None) -> Any:
    """The `response` member of Duo's envelope. DuoUnavailable for a 5xx, DuoApiError for a 4xx, DuoBadResponse
    for anything else that is not Duo's JSON."""
    if status >= 500:
        raise DuoUnavailable("http_5xx", f"HTTP {status} {reason or ''}".rstrip(), endpoint=endpoint,
                             http_status=status)
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        document = None
    if 400 <= status < 500:
        if isinstance(document, dict) and document.get("stat") == "FAIL":
            code = document.get("code")
            detail = document.get("message_detail")
            raise DuoApiError(status, code if type(code) is int else None,
                              str(document.get("message") or reason or f"HTTP {status}"),
                              str(detail) if detail not in (None, "") else None, endpoint=endpoint)
        raise DuoApiError(status, None, reason or f"HTTP {status}", "the answer is not Duo's JSON",
                          endpoint=endpoint)
    if status != 200:
        raise DuoBadResponse("bad_response", f"unexpected HTTP {status} {reason or ''}".rstrip(), endpoint=endpoint,
                             http_status=status)
    if not isinstance(document, dict) or document.get("stat") != "OK" or "response" not in document:
        raise DuoBadResponse("bad_response", "the answer is not Duo's JSON envelope", endpoint=endpoint,
                             http_status=status)
    return document["response"]


def _bad(endpoint: str, what: str) -> DuoBadResponse:
    return DuoBadResponse("bad_response", what, endpoint=endpoint, http_status=200)


def _text(response: Mapping[str, Any], name: str, endpoint: str, default: str | None = None) -> str:
    value = response.get(name, default)
    if not isinstance(value, str):
        raise _bad(endpoint, f"{name!r} is missing or not a string")
    return value


def parse_time(response: Any, endpoint: str) -> int:
    value = response.get("time") if isinstance(response, dict) else None
    if type(value) is not int:
        raise _bad(endpoint, "'time' is missing or not an integer")
    return value


def parse_device(entry: Any, endpoint: str) -> DuoDevice:
    if not isinstance(entry, dict):
        raise _bad(endpoint, "a device is not an object")
    capabilities = entry.get("capabilities", [])
    if not isinstance(capabilities, list) or not all(isinstance(c, str) for c in capabilities):
        raise _bad(endpoint, "a device's 'capabilities' is not a list of strings")
    name = _text(entry, "name", endpoint, "")
    return DuoDevice(
        device=_text(entry, "device", endpoint), type=_text(entry, "type", endpoint, ""), name=name,
        number=_text(entry, "number", endpoint, ""), display_name=_text(entry, "display_name", endpoint, name),
        capabilities=tuple(capabilities),
    )


def parse_preauth(response: Any, endpoint: str = "preauth") -> PreauthResult:
    if not isinstance(response, dict):
        raise _bad(endpoint, "the response is not an object")
    devices = response.get("devices", [])
    if not isinstance(devices, list):
        raise _bad(endpoint, "'devices' is not a list")
    portal = response.get("enroll_portal_url")
    result = _text(response, "result", endpoint)
    if result not in PREAUTH_RESULTS:
        raise _bad(endpoint, f"unknown result {result[:40]!r}")
    return PreauthResult(
        result=result, status_msg=_text(response, "status_msg", endpoint, ""),
        devices=tuple(parse_device(entry, endpoint) for entry in devices),
        enroll_portal_url=portal if isinstance(portal, str) else None,
    )


def parse_auth(response: Any, endpoint: str, txid: str | None, *, may_wait: bool = False) -> AuthResult:
    """A decided authentication (/auth's synchronous answer), or one that may still be waiting (/auth_status's)."""
    if not isinstance(response, dict):
        raise _bad(endpoint, "the response is not an object")
    result = _text(response, "result", endpoint)
    if result not in DECIDED_RESULTS and not (may_wait and result == "waiting"):
        raise _bad(endpoint, f"unknown result {result[:40]!r}")
    return AuthResult(result=result, status=_text(response, "status", endpoint, ""),
                      status_msg=_text(response, "status_msg", endpoint, ""), txid=txid)


async def _before(deadline: float, call: Coroutine[Any, Any, T]) -> tuple[bool, T | None]:
    """(True, result) if `call` finishes before the monotonic `deadline`, else (False, None)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        call.close()
        return False, None
    scope = asyncio.timeout(remaining)
    try:
        async with scope:
            return True, await call
    except TimeoutError:
        if scope.expired():
            return False, None
        raise


class DuoClient:
    """An async Duo Auth API v2 client: one per integration (ikey), shared by every request the proxy handles."""

    def __init__(self, ikey: str, skey: str, api_host: str, *, ca_certs: str | None = None,
                 api_timeout: float | None = 10.0, http_proxy: str | None = None,
                 user_agent: str = f"duomfa/{__version__}", max_connections: int = 100,
                 max_long_polls: int = 1000, on_response: ResponseObserver | None = None,
                 rate_limit_retries: int = 3, rate_limit_backoff: float = 1.0,
                 long_poll_grace: float = LONG_POLL_GRACE_SECONDS,
                 resolver: AbstractResolver | None = None, log: JsonLog | None = None, fips_mode: bool = False):
        """`api_timeout` bounds each ordinary request (None or 0: no limit); long-polls get api_timeout +
        `long_poll_grace` (65 s: Duo holds a long-poll for up to 60 s).
        `max_connections` is the pool for ordinary calls; up to `max_long_polls` more connections carry
        long-polls, and long-polls beyond that queue without counting against any timeout.
        A 429 is retried `rate_limit_retries` times after rate_limit_backoff × 1, 2, 4 … s (+ jitter, each
        wait ≤ 8 s, all of them together ≤ api_timeout).
        `resolver` replaces the system's name lookups and is asked for every new connection (no DNS cache).
        `log` is where the client's own errors go (standard output's JSON lines if none).
        `fips_mode`: TLS limited to FIPS-approved versions and suites (the process must run OpenSSL in FIPS mode)."""
        if max_connections < 1 or max_long_polls < 1:
            raise ValueError("max_connections and max_long_polls must be at least 1")
        self._ikey = ikey
        self._skey = Secret(skey)
        self._api_host = api_host
        self._signed_host, netloc = split_api_host(api_host)
        self._base_url = f"https://{netloc}"
        self._ssl_context = tls_context(ca_certs, fips_mode=fips_mode)
        self._api_timeout = api_timeout or None
        self._timeout = aiohttp.ClientTimeout(total=self._api_timeout)
        self._long_timeout = aiohttp.ClientTimeout(
            total=self._api_timeout + long_poll_grace if self._api_timeout else None)
        self._resolver = resolver
        if http_proxy and "://" not in http_proxy:
            http_proxy = f"http://{http_proxy}"
        self._http_proxy = http_proxy or None
        self._user_agent = user_agent
        self._max_connections = max_connections
        self._max_long_polls = max_long_polls
        self._long_poll_slots = asyncio.Semaphore(max_long_polls)
        # ordinary calls get their own share, so the pool never makes a call wait inside aiohttp's timeout: a
        # timeout then always means Duo was slow, never that this process was busy (which must not fail open)
        self._call_slots = asyncio.Semaphore(max_connections)
        self._on_response = on_response
        self._log = log or standard_output()
        self._rate_limit_retries = rate_limit_retries
        self._rate_limit_backoff = rate_limit_backoff
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def api_host(self) -> str:
        return self._api_host

    @property
    def ikey(self) -> str:
        return self._ikey

    def __repr__(self) -> str:
        return f"DuoClient(ikey={self._ikey!r}, api_host={self._api_host!r})"

    async def __aenter__(self) -> DuoClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("this DuoClient is closed")
        loop = asyncio.get_running_loop()
        if self._session is None:
            # limit = both shares: long-polls hold at most max_long_polls, so ordinary calls always find room
            extra: dict[str, Any] = {}
            if self._resolver is not None:
                extra = {"resolver": self._resolver, "use_dns_cache": False}
            connector = aiohttp.TCPConnector(limit=self._max_connections + self._max_long_polls,
                                             ssl=self._ssl_context, **extra)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout, trust_env=False)
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError("a DuoClient is bound to the event loop it was first used in")
        return self._session

    # the Auth API
    async def ping(self) -> int:
        """Duo's time (unix seconds); unsigned, so it proves reachability, not the keys."""
        return parse_time(await self._call("GET", "/auth/v2/ping", {}, signed=False), "ping")

    async def check(self) -> int:
        """Duo's time (unix seconds), on a signed request: proves the ikey, skey and clock."""
        return parse_time(await self._call("GET", "/auth/v2/check", {}), "check")

    async def preauth(self, username: str, ipaddr: str | None = None) -> PreauthResult:
        params = {"username": username}
        if ipaddr is not None:
            params["ipaddr"] = ipaddr
        # preauth changes nothing at Duo, so a request lost on a keep-alive connection may be sent again
        return parse_preauth(await self._call("POST", "/auth/v2/preauth", params, resend_if_dropped=True))

    async def auth(self, factor: str, username: str, *, device: str = "auto", passcode: str | None = None,
                   ipaddr: str | None = None, pushinfo: str | None = None, type: str | None = None,
                   async_txn: bool = False) -> AuthResult:
        """/auth. With async_txn the answer is result "waiting" and a txid for auth_status (unless Duo decides
        at once, e.g. for a bypass user). Synchronous push/phone/auto waits for the person, as a long-poll."""
        params = {"factor": factor, "username": username, "async": "1" if async_txn else "0"}
        if factor == "passcode":
            if not passcode:
                raise ValueError("factor 'passcode' needs a passcode")
            params["passcode"] = passcode
        else:
            params["device"] = device
        for name, value in (("ipaddr", ipaddr), ("pushinfo", pushinfo), ("type", type)):
            if value is not None:
                params[name] = value
        long_poll = not async_txn and factor in OUT_OF_BAND_FACTORS
        response = await self._call("POST", "/auth/v2/auth", params, long_poll=long_poll)
        if async_txn and isinstance(response, dict) and "txid" in response:
            txid = response["txid"]
            if not isinstance(txid, str) or not txid:
                raise _bad("auth", "'txid' is not a string")
            return AuthResult(result="waiting", status="", status_msg="", txid=txid)
        return parse_auth(response, "auth", None)

    async def auth_status(self, txid: str) -> AuthResult:
        """One long-poll for an async auth: Duo answers when the status changes or its poll time runs out."""
        response = await self._call("GET", "/auth/v2/auth_status", {"txid": txid}, long_poll=True)
        return parse_auth(response, "auth_status", txid, may_wait=True)

    async def auth_and_wait(self, factor: str, username: str, *, device: str = "auto", ipaddr: str | None = None,
                            pushinfo: str | None = None, type: str | None = None, deadline: float) -> AuthResult:
        """auth(async_txn=True), then auth_status until decided; a deny/timeout once the monotonic `deadline`
        (time.monotonic()) passes. The person may still answer the push afterwards: it no longer counts."""
        in_time, started = await _before(deadline, self.auth(
            factor, username, device=device, ipaddr=ipaddr, pushinfo=pushinfo, type=type, async_txn=True))
        if not in_time or started is None:
            return AuthResult("deny", "timeout", TIMEOUT_STATUS_MSG, None)
        if not started.waiting:
            return started
        txid = started.txid
        assert txid is not None  # auth() gives a waiting result only with a txid
        last_poll = float("-inf")
        while True:
            pause = last_poll + MIN_POLL_INTERVAL - time.monotonic()
            if pause > 0:
                await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            last_poll = time.monotonic()
            in_time, status = await _before(deadline, self.auth_status(txid))
            if not in_time or status is None:
                return AuthResult("deny", "timeout", TIMEOUT_STATUS_MSG, txid)
            if not status.waiting:
                return status

    # transport
    async def _call(self, method: str, path: str, params: Mapping[str, str], *, signed: bool = True,
                    long_poll: bool = False, resend_if_dropped: bool = False) -> Any:
        """Duo's `response` for one API call, after backing off any 429s."""
        session = self._ensure_session()
        endpoint = path.rsplit("/", 1)[-1]
        started = time.monotonic()
        retries = 0
        while True:
            try:
                status, reason, body = await self._exchange(session, method, path, params, signed, long_poll,
                                                            endpoint)
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                # most likely a keep-alive connection Duo had just closed (connector errors never get here)
                if not resend_if_dropped:
                    raise fault_from(exc, endpoint) from exc
                resend_if_dropped = False
                continue
            if status != 429 or retries >= self._rate_limit_retries:
                break
            wait = min(RATE_LIMIT_BACKOFF_CAP, self._rate_limit_backoff * 2 ** retries)
            wait += random.uniform(0.0, wait / 2)  # jitter: many proxies must not retry in step
            if self._api_timeout and time.monotonic() - started + wait > self._api_timeout:
                break
            await asyncio.sleep(wait)
            retries += 1
        return decode_response(status, reason, body, endpoint)

    async def _exchange(self, session: aiohttp.ClientSession, method: str, path: str, params: Mapping[str, str],
                        signed: bool, long_poll: bool, endpoint: str) -> tuple[int, str | None, bytes]:
        """One HTTP request and its whole body. ServerDisconnectedError / ClientOSError before any reply pass
        through for _call to judge; every other transport failure becomes a DuoFault."""
        if long_poll:
            await self._long_poll_slots.acquire()  # waiting here is queueing, not Duo being slow: no timeout
        else:
            try:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation that arrives
                # just as the semaphore is acquired, and the proxy would not stop
                async with asyncio.timeout(self._api_timeout):
                    await self._call_slots.acquire()
            except TimeoutError:
                raise DuoBusy(f"{self._max_connections} calls to Duo already under way for {self._api_timeout} s; "
                              f"{endpoint} not sent") from None
        try:
            # signed after queueing, so the Date is fresh when the request leaves
            if signed:
                call = sign_call(method, path, params, ikey=self._ikey, skey=self._skey.reveal(),
                                 host=self._signed_host, date=email.utils.formatdate())
            else:
                query = urllib.parse.urlencode(dict(params))
                call = SignedCall(method, path, query, None, {})
            url = URL(self._base_url + call.path + (f"?{call.query}" if call.query else ""), encoded=True)
            headers = {**call.headers, "User-Agent": self._user_agent}
            status: int | None = None
            clock = time.perf_counter()
            try:
                async with session.request(method, url, data=call.body, headers=headers,
                                           timeout=self._long_timeout if long_poll else self._timeout,
                                           proxy=self._http_proxy, allow_redirects=False) as response:
                    status = response.status
                    return response.status, response.reason, await response.read()
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                if status is not None or isinstance(exc, (aiohttp.ClientConnectorError, asyncio.TimeoutError)):
                    raise fault_from(exc, endpoint, replied=status is not None) from exc
                raise
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise fault_from(exc, endpoint, replied=status is not None) from exc
            finally:
                # a long poll waits for the user as much as for Duo: observed under its own name
                self._observe(f"{endpoint}_wait" if long_poll else endpoint, time.perf_counter() - clock, status)
        finally:
            (self._long_poll_slots if long_poll else self._call_slots).release()

    def _observe(self, endpoint: str, seconds: float, status: int | None) -> None:
        if self._on_response is None:
            return
        try:
            self._on_response(endpoint, seconds, status)
        except Exception as exc:  # a metrics hook must not turn an answer from Duo into a failure
            self._log.event("ERROR", "duo_client_error", endpoint=endpoint, error=type(exc).__name__,
                            detail="the on_response hook failed; the call itself was not affected")
