"""HTTP handlers for Duo Auth API v2: parse the request, check its signature, call the service, answer in
Duo's envelope (`{"stat": "OK", "response": …}` or `{"stat": "FAIL", "code", "message", …}`)."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from duomfa.mfaservice.service import ApiError, MfaService
from duomfa.mfaservice.signing import SignatureError, SignedRequest, verify
from duomfa.mfaservice.store import Integration

MAX_BODY_BYTES = 64 * 1024
SERVICE_KEY = web.AppKey("service", MfaService)

Handler = Callable[[MfaService, Integration, dict[str, str]], Awaitable[Any]]


def ok(response: Any) -> web.Response:
    return web.json_response({"stat": "OK", "response": response})


def fail(http_status: int, code: int, message: str, detail: str | None = None) -> web.Response:
    body: dict[str, Any] = {"stat": "FAIL", "code": code, "message": message}
    if detail:
        body["message_detail"] = detail
    return web.json_response(body, status=http_status)


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


def signed_endpoint(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def endpoint(request: web.Request) -> web.Response:
        service = request.app[SERVICE_KEY]
        try:
            signed, params = await _read_request(request)

            def skey_for(ikey: str) -> str | None:
                found = service.store.integration_by_ikey(ikey)
                return found.skey if found else None

            verified = verify(signed, skey_for)
            integration = service.store.integration_by_ikey(verified.ikey)
            assert integration is not None
            return ok(await handler(service, integration, params))
        except SignatureError as exc:
            return fail(401, exc.code, exc.message, exc.detail)
        except ApiError as exc:
            return fail(exc.http_status, exc.code, exc.message, exc.detail)
        except Exception as exc:  # answer in Duo's envelope, and say what happened in the service's log
            service.auth_log.write("error", path=request.path, error=type(exc).__name__, detail=str(exc)[:200])
            return fail(500, 50000, "Internal server error")

    return endpoint


async def ping(request: web.Request) -> web.Response:
    return ok({"time": int(time.time())})


async def _check(service: MfaService, integration: Integration, params: dict[str, str]) -> dict[str, int]:
    return {"time": int(time.time())}


async def _logo(service: MfaService, integration: Integration, params: dict[str, str]) -> None:
    raise ApiError(404, 40401, "Resource not found", "no logo is configured")


async def _preauth(service: MfaService, integration: Integration, params: dict[str, str]) -> Any:
    return service.preauth(integration, params)


async def _auth(service: MfaService, integration: Integration, params: dict[str, str]) -> Any:
    return await service.auth(integration, params)


async def _auth_status(service: MfaService, integration: Integration, params: dict[str, str]) -> Any:
    return await service.auth_status(integration, params)


async def _enroll(service: MfaService, integration: Integration, params: dict[str, str]) -> Any:
    return service.enroll(integration, params)


async def _enroll_status(service: MfaService, integration: Integration, params: dict[str, str]) -> Any:
    return service.enroll_status(integration, params)


ENDPOINTS: dict[str, tuple[str, Handler]] = {
    "/auth/v2/check": ("GET", _check),
    "/auth/v2/logo": ("GET", _logo),
    "/auth/v2/preauth": ("POST", _preauth),
    "/auth/v2/auth": ("POST", _auth),
    "/auth/v2/auth_status": ("GET", _auth_status),
    "/auth/v2/enroll": ("POST", _enroll),
    "/auth/v2/enroll_status": ("POST", _enroll_status),
}


async def not_found(request: web.Request) -> web.Response:
    return fail(404, 40401, "Resource not found")


async def method_not_allowed(request: web.Request) -> web.Response:
    return fail(405, 40501, "Method not allowed")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/auth/v2/ping", ping)
    for path, (method, handler) in ENDPOINTS.items():
        endpoint = signed_endpoint(handler)
        app.router.add_route(method, path, endpoint)
        if method == "GET":  # aiohttp adds HEAD for GET routes
            app.router.add_route("POST", path, method_not_allowed)
        else:
            app.router.add_route("GET", path, method_not_allowed)
    app.router.add_route("*", "/auth/v2/{tail:.*}", not_found)
