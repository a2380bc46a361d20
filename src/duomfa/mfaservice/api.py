"""HTTP handlers for Duo Auth API v2: parse, check the signature, call the service, answer in Duo's envelope.

The signature check reads the skey on the store worker, in the same hop as the endpoint's own store work.
Everything under Duo's API paths (/auth/, /rest/, /admin/) answers in Duo's JSON, unknown paths and methods
included, and may be written to the request log; the device, activation and portal pages are not API paths.
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import time
import traceback
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from duomfa.mfaservice.auditlog import AuditLog
from duomfa.mfaservice.service import ApiError, MfaService
from duomfa.mfaservice.signing import SignatureError, SignedRequest, claimed_ikey, verify
from duomfa.mfaservice.store import Integration, Store

MAX_BODY_BYTES = 64 * 1024
SERVICE_KEY = web.AppKey("service", MfaService)
REQUEST_LOG_KEY = web.AppKey("request_log", AuditLog)  # set only with --log-requests
PARAM_NAMES_KEY = web.RequestKey("param_names", list[str])  # the names of the parameters a handler read
DUO_CODE_KEY = web.ResponseKey("duo_code", int)  # the Duo error code an error response carries
# Duo's API paths: Auth API v2 (/auth/v2/), Auth API v1 (/rest/v1/, not served), Admin API (/admin/, not served)
API_PREFIXES = ("/auth/", "/rest/", "/admin/")
IKEY_SHAPE = re.compile(r"[A-Z0-9]{20}")  # what the request log shows of a claimed ikey; anything else is not one
# parameter names the request log shows: a name that is not an identifier (a malformed body can put a value, a
# passcode say, where a name goes) is only counted
PARAM_NAME_SHAPE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}")
MAX_LOGGED_PATH = 200

# Checks the request's signature and returns its integration; call it on the store worker.
Authenticate = Callable[[], Integration]
Handler = Callable[[MfaService, Authenticate, dict[str, str]], Awaitable[Any]]


def ok(response: Any) -> web.Response:
    return web.json_response({"stat": "OK", "response": response})


def fail(http_status: int, code: int, message: str, detail: str | None = None) -> web.Response:
    body: dict[str, Any] = {"stat": "FAIL", "code": code, "message": message}
    if detail:
        body["message_detail"] = detail
    response = web.json_response(body, status=http_status)
    response[DUO_CODE_KEY] = code
    return response


async def _read_request(request: web.Request) -> tuple[SignedRequest, dict[str, str]]:
    """The signed view of a request and its parameters (first value of each), from query, form or JSON body."""
    raw = await request.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, 41301, "Request entity too large")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, 40002, "Invalid request parameters", "the body is not UTF-8") from None
    body: str | None = None
    if request.method in ("POST", "PUT", "PATCH") and request.content_type == "application/json":
        body = text
        try:
            document = json.loads(text) if text else {}
        except ValueError:
            raise ApiError(400, 40002, "Invalid request parameters", "the body is not JSON") from None
        if not isinstance(document, dict):
            raise ApiError(400, 40002, "Invalid request parameters", "the JSON body must be an object")
        signed_params: dict[str, list[str]] = {}
        values = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in document.items()}
    else:
        source = request.query_string if request.method in ("GET", "DELETE") else text
        signed_params = urllib.parse.parse_qs(source, keep_blank_values=True)
        values = {key: vals[0] for key, vals in signed_params.items()}
    request[PARAM_NAMES_KEY] = sorted(values)
    if request.method not in ("GET", "DELETE") and body is not None and request.query_string:
        # v5 signs the query too; duo_client never sends one with a JSON POST
        signed_params = urllib.parse.parse_qs(request.query_string, keep_blank_values=True)
    signed = SignedRequest(
        method=request.method,
        host=request.headers.get("Host", ""),
        path=request.path,
        params=signed_params,
        body=body,
        date=request.headers.get("X-Duo-Date") or request.headers.get("Date"),
        authorization=request.headers.get("Authorization"),
        duo_headers={k: v for k, v in request.headers.items() if k.lower().startswith("x-duo-")},
    )
    return signed, values


def authenticate(store: Store, signed: SignedRequest) -> Integration:
    """The integration that signed the request; SignatureError if the signature does not hold."""
    found: dict[str, Integration] = {}

    def skey_for(ikey: str) -> str | None:
        integration = store.integration_by_ikey(ikey)
        if integration is None:
            return None
        found[ikey] = integration
        return integration.skey

    verified = verify(signed, skey_for)
    if verified.sig_version == 2 and signed.body is not None:
        # the parameters come from the JSON body, which a v2 signature does not cover; verify never accepts this
        # combination, and the handlers must never see such parameters if that ever changed
        raise SignatureError(40103, "Invalid signature in request credentials")
    return found[verified.ikey]


def _where(exc: BaseException) -> str:
    """Where an exception was raised (file:line in function), for the log: its message might quote a parameter."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno} in {last.name}"


def signed_endpoint(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def endpoint(request: web.Request) -> web.Response:
        service = request.app[SERVICE_KEY]
        try:
            signed, params = await _read_request(request)
            return ok(await handler(service, lambda: authenticate(service.store, signed), params))
        except SignatureError as exc:
            return fail(401, exc.code, exc.message, exc.detail)
        except ApiError as exc:
            return fail(exc.http_status, exc.code, exc.message, exc.detail)
        except sqlite3.OperationalError as exc:
            service.auth_log.write("error", "ERROR", path=request.path, error=type(exc).__name__, where=_where(exc))
            if "locked" in str(exc) or "busy" in str(exc):  # another process held the write lock too long
                return fail(503, 50300, "Service temporarily unavailable", "the database is busy; try again")
            return fail(500, 50000, "Internal server error")
        except Exception as exc:  # answer in Duo's envelope, and say where it happened in the service's log
            service.auth_log.write("error", "ERROR", path=request.path, error=type(exc).__name__, where=_where(exc))
            return fail(500, 50000, "Internal server error")

    return endpoint


async def ping(request: web.Request) -> web.Response:
    return ok({"time": int(time.time())})


async def _check(service: MfaService, authenticate: Authenticate, params: dict[str, str]) -> dict[str, int]:
    await service.run(authenticate)
    return {"time": int(time.time())}


async def _logo(service: MfaService, authenticate: Authenticate, params: dict[str, str]) -> None:
    await service.run(authenticate)
    raise ApiError(404, 40401, "Resource not found", "no logo is configured")


async def _preauth(service: MfaService, authenticate: Authenticate, params: dict[str, str]) -> Any:
    return await service.run(lambda: service.preauth(authenticate(), params))


async def _auth(service: MfaService, authenticate: Authenticate, params: dict[str, str]) -> Any:
    return await service.auth(authenticate, params)


async def _auth_status(service: MfaService, authenticate: Authenticate, params: dict[str, str]) -> Any:
    transaction = await service.run(lambda: service.check_auth_status(authenticate(), params))
    return await service.finish_auth_status(transaction)


async def _enroll(service: MfaService, authenticate: Authenticate, params: dict[str, str]) -> Any:
    return await service.run(lambda: service.enroll(authenticate(), params))


async def _enroll_status(service: MfaService, authenticate: Authenticate, params: dict[str, str]) -> Any:
    return await service.run(lambda: service.enroll_status(authenticate(), params))


ENDPOINTS: dict[str, tuple[str, Handler]] = {
    "/auth/v2/check": ("GET", _check),
    "/auth/v2/logo": ("GET", _logo),
    "/auth/v2/preauth": ("POST", _preauth),
    "/auth/v2/auth": ("POST", _auth),
    "/auth/v2/auth_status": ("GET", _auth_status),
    "/auth/v2/enroll": ("POST", _enroll),
    "/auth/v2/enroll_status": ("POST", _enroll_status),
}


def is_api_path(path: str) -> bool:
    return any(path.startswith(prefix) or path == prefix[:-1] for prefix in API_PREFIXES)


def duo_error(exc: web.HTTPException) -> web.Response:
    """What the router's own refusals (no such path, wrong method …) look like in Duo's JSON."""
    if exc.status == 404:
        return fail(404, 40401, "Resource not found")
    if exc.status == 405:
        response = fail(405, 40501, "Method not allowed")
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    if exc.status == 413:
        return fail(413, 41301, "Request entity too large")
    return fail(exc.status, exc.status * 100 + 1, exc.reason)


def log_request(log: AuditLog, request: web.Request, response: web.StreamResponse | None, seconds: float) -> None:
    """One line of the request log: what was asked and how it was answered — parameter names, never values, and
    nothing of the signature."""
    names = request.get(PARAM_NAMES_KEY)
    if names is None:  # refused before the handler read its parameters: the query string is all there is
        names = sorted(urllib.parse.parse_qs(request.query_string, keep_blank_values=True))
    shown = [name for name in names if PARAM_NAME_SHAPE.fullmatch(name)]
    ikey = claimed_ikey(request.headers.get("Authorization"))
    fields: dict[str, Any] = {
        "method": request.method[:16],
        "path": request.path[:MAX_LOGGED_PATH],
        "params": shown,
        "ikey": ikey if ikey is not None and IKEY_SHAPE.fullmatch(ikey) else None,
        "status": response.status if response is not None else None,  # None: the client left before the answer
        "code": response.get(DUO_CODE_KEY) if response is not None else None,
        "duration_ms": round(seconds * 1000, 1),
    }
    if len(shown) < len(names):
        fields["other_params"] = len(names) - len(shown)
    try:
        log.write("request", **fields)
    except OSError as exc:  # a full disk must not turn answers into errors
        print(f"duomfa MFA service: could not write the request log ({exc})", file=sys.stderr, flush=True)


@web.middleware
async def duo_api_paths(request: web.Request,
                        handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Under Duo's API paths: Duo's JSON for whatever the router refuses, and a request-log line if one is kept."""
    if not is_api_path(request.path):
        return await handler(request)
    started = time.monotonic()
    response: web.StreamResponse | None = None
    try:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = duo_error(exc)
        return response
    finally:
        log = request.app.get(REQUEST_LOG_KEY)
        if log is not None:
            log_request(log, request, response, time.monotonic() - started)


def add_routes(app: web.Application) -> None:
    """The Auth API v2 endpoints. Other paths and methods under API_PREFIXES are refused by the router and answered
    in Duo's JSON by `duo_api_paths`, which the application must have as a middleware."""
    app.router.add_get("/auth/v2/ping", ping)
    for path, (method, handler) in ENDPOINTS.items():
        app.router.add_route(method, path, signed_endpoint(handler))
