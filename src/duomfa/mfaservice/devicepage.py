"""The pages a person uses in place of a phone: a device page per device (pending pushes and calls with
Approve / Deny, the SMS inbox, the current passcode), and the activation and self-enrollment pages.

A device page's address holds an unguessable token; whoever has it can answer for that device, as whoever
holds the phone can. Each page is built on the store worker (`MfaService.run`), where its store reads happen.
"""

from __future__ import annotations

import datetime
import html
import io
import time
from importlib import resources
from typing import Any

import segno
from aiohttp import web

from duomfa.mfaservice import otp
from duomfa.mfaservice.api import SERVICE_KEY
from duomfa.mfaservice.service import MfaService, parse_pushinfo
from duomfa.mfaservice.store import Device, Transaction

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
}


def _page(title: str, body: str, status: int = 200) -> web.Response:
    document = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><link rel=stylesheet href='/static/device.css'></head>"
        f"<body><main>{body}</main><script src='/static/device.js'></script></body></html>"
    )
    return web.Response(text=document, content_type="text/html", status=status, headers=SECURITY_HEADERS)


def _when(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def transaction_view(service: MfaService, transaction: Transaction) -> dict[str, Any]:
    user = service.store.user_by_id(transaction.user_id) if transaction.user_id is not None else None
    return {
        "txid": transaction.txid,
        "kind": "call" if transaction.factor == "phone" else "push",
        "username": transaction.display_username or (user.username if user else ""),
        "time": _when(transaction.created_at),
        "ipaddr": transaction.ipaddr,
        "type": transaction.login_type or "Login",
        "pushinfo": parse_pushinfo(transaction.pushinfo),
        "expires_in": max(0, int(transaction.expires_at - time.time())),
    }


def device_state(service: MfaService, device: Device) -> dict[str, Any]:
    waiting = service.store.waiting_transactions(device_id=device.device_id)
    inbox = service.store.sms_inbox(device.device_id)
    return {
        "pending": [transaction_view(service, t) for t in waiting],
        "sms": [{"code": code, "sent": _when(sent), "used": used} for code, sent, used in inbox],
        "passcode": otp.totp_now(device.totp_secret) if device.totp_secret else None,
    }


def _render_pending(items: list[dict[str, Any]], token: str) -> str:
    if not items:
        return "<p class=empty data-testid=no-pending>No pending requests.</p>"
    parts = []
    for item in items:
        info = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in item["pushinfo"])
        heading = "Incoming call" if item["kind"] == "call" else f"{html.escape(item['type'])} request"
        parts.append(
            f"<article class=request data-testid=pending data-txid='{html.escape(item['txid'])}'>"
            f"<h3>{heading}</h3><dl>"
            f"<dt>User</dt><dd data-testid=username>{html.escape(item['username'])}</dd>"
            f"<dt>Time</dt><dd>{html.escape(item['time'])}</dd>"
            f"<dt>Client IP</dt><dd data-testid=ipaddr>{html.escape(item['ipaddr'] or 'unknown')}</dd>"
            f"{info}</dl>"
            f"<form method=post action='/device/{html.escape(token)}/answer'>"
            f"<input type=hidden name=txid value='{html.escape(item['txid'])}'>"
            "<button name=decision value=approve class=approve data-testid=approve>Approve</button>"
            "<button name=decision value=deny class=deny data-testid=deny>Deny</button></form></article>"
        )
    return "".join(parts)


def _render_sms(messages: list[dict[str, Any]]) -> str:
    if not messages:
        return "<p class=empty>No messages.</p>"
    codes = " ".join(
        f"<span class='{'used' if m['used'] else 'code'}'>{html.escape(m['code'])}</span>" for m in messages)
    return f"<p>Your passcodes ({html.escape(messages[0]['sent'])}):</p><p class=codes data-testid=sms>{codes}</p>"


async def device_page(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    return await service.run(_device_page, service, request.match_info["token"])


def _device_page(service: MfaService, token: str) -> web.Response:
    device = service.store.device_by_page_token(token)
    if device is None:
        return _page("Unknown device", "<h1>Unknown device</h1><p>This device link is not valid.</p>", status=404)
    user = service.store.user_by_id(device.user_id)
    state = device_state(service, device)
    enroll = ""
    if device.totp_secret:
        uri = otp.totp_uri(device.totp_secret, user.username if user else device.device_id)
        svg = segno.make(uri, error="m").svg_data_uri(scale=4)
        enroll = (
            "<section><h2>Passcodes</h2>"
            "<p>Current passcode: "
            f"<strong data-testid=passcode id=passcode>{html.escape(state['passcode'])}</strong></p>"
            "<details><summary>Add to an authenticator app</summary>"
            f"<img alt='TOTP QR code' src='{svg}'><p class=uri>{html.escape(uri)}</p></details></section>"
        )
    body = (
        f"<h1>{html.escape(device.name)}</h1>"
        f"<p class=sub>Device {html.escape(device.device_id)} of "
        f"<strong>{html.escape(user.username if user else '?')}</strong></p>"
        f"<section><h2>Requests</h2><div id=pending data-token='{html.escape(token)}'>"
        f"{_render_pending(state['pending'], token)}</div></section>"
        f"{enroll}"
        f"<section><h2>SMS inbox</h2><div id=sms>{_render_sms(state['sms'])}</div></section>"
    )
    return _page(f"duomfa device: {device.name}", body)


async def device_state_json(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    return await service.run(_device_state_json, service, request.match_info["token"])


def _device_state_json(service: MfaService, token: str) -> web.Response:
    device = service.store.device_by_page_token(token)
    if device is None:
        return web.json_response({"error": "unknown device"}, status=404, headers=SECURITY_HEADERS)
    state = device_state(service, device)
    state["pending_html"] = _render_pending(state["pending"], token)
    state["sms_html"] = _render_sms(state["sms"])
    return web.json_response(state, headers=SECURITY_HEADERS)


def _answerable(service: MfaService, token: str, txid: str) -> web.Response | None:
    """Why this device page may not answer txid (a page to show), or None when it may."""
    device = service.store.device_by_page_token(token)
    if device is None:
        return _page("Unknown device", "<h1>Unknown device</h1>", status=404)
    transaction = service.store.transaction(txid)
    if transaction is None or transaction.device_id != device.device_id:
        return _page("Not found", "<h1>No such request</h1>", status=404)
    return None


async def device_answer(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    token = request.match_info["token"]
    form = await request.post()
    txid, decision = str(form.get("txid", "")), str(form.get("decision", ""))
    refused = await service.run(_answerable, service, token, txid)
    if refused is not None:
        return refused
    if decision not in ("approve", "deny"):
        return _page("Not found", "<h1>No such request</h1>", status=404)
    settled = await service.answer(txid, approve=decision == "approve")
    if request.headers.get("Accept", "").startswith("application/json"):
        return web.json_response({"settled": settled}, headers=SECURITY_HEADERS)
    raise web.HTTPSeeOther(f"/device/{token}")


def _activation_body(title: str, text: str, action: str) -> str:
    return (f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
            f"<form method=post action='{html.escape(action)}'>"
            "<button class=approve data-testid=activate>Activate this device</button></form>")


async def activation_page(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    return await service.run(_activation_page, service, request.match_info["code"], request.method == "POST")


def _activation_page(service: MfaService, code: str, activate: bool) -> web.Response:
    activation = service.store.activation(code)
    if activation is None:
        return _page("Unknown activation", "<h1>This activation link is not valid.</h1>", status=404)
    user = service.store.user_by_id(activation["user_id"])
    if activate:
        if user is None:
            return _page("Expired", "<h1>This activation link has expired.</h1>", status=410)
        device = service.activate(user)
        if not service.store.complete_activation(code, device.device_id):
            service.store.remove_device(device.device_id)
            return _page("Expired", "<h1>This activation link was used or has expired.</h1>", status=410)
        raise web.HTTPSeeOther(f"/device/{device.page_token}")
    if activation["device_id"] is not None:
        return _page("Activated", "<h1>This device is already activated.</h1>")
    return _page("Activate", _activation_body(
        "Activate Duo for " + (user.username if user else "?"),
        "Activating creates a device that can approve pushes and show passcodes.", f"/activate/{code}"))


async def activation_qr(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    return await service.run(_activation_qr, service, request.match_info["code"])


def _activation_qr(service: MfaService, code: str) -> web.Response:
    if service.store.activation(code) is None:
        return web.Response(status=404)
    buffer = io.BytesIO()
    segno.make(f"{service.base_url}/activate/{code}", error="m").save(buffer, kind="png", scale=5)
    return web.Response(body=buffer.getvalue(), content_type="image/png", headers=SECURITY_HEADERS)


async def portal_page(request: web.Request) -> web.Response:
    """Self-enrollment for a user unknown to the service, from preauth's enroll_portal_url."""
    service = request.app[SERVICE_KEY]
    source = await request.post() if request.method == "POST" else request.query
    return await service.run(_portal_page, service, str(source.get("code", "")), request.method == "POST")


def _portal_page(service: MfaService, code: str, enroll: bool) -> web.Response:
    username = service.portal_username(code)
    if username is None:
        return _page("Expired", "<h1>This enrollment link is not valid or has expired.</h1>", status=410)
    if enroll:
        user = service.store.user_by_name(username)
        if user is not None and service.store.devices_of(user.user_id):
            return _page("Already enrolled", "<h1>This user already has a device.</h1>", status=409)
        user = user or service.store.add_user(username)
        device = service.activate(user)
        service.auth_log.write("enroll", username=username, user_id=user.user_id, result="self-enrolled",
                               device=device.device_id)
        raise web.HTTPSeeOther(f"/device/{device.page_token}")
    body = (f"<h1>Enroll {html.escape(username)}</h1><p>Enrolling creates a device for this user that can approve "
            "pushes and show passcodes.</p><form method=post action='/portal'>"
            f"<input type=hidden name=code value='{html.escape(code)}'>"
            "<button class=approve data-testid=activate>Enroll</button></form>")
    return _page("Enroll", body)


async def static_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    types = {"device.css": "text/css", "device.js": "application/javascript"}
    if name not in types:
        return web.Response(status=404)
    text = resources.files("duomfa.mfaservice").joinpath("static", name).read_text(encoding="utf-8")
    return web.Response(text=text, content_type=types[name], headers={"Cache-Control": "no-cache"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/device/{token}", device_page)
    app.router.add_get("/device/{token}/state.json", device_state_json)
    app.router.add_post("/device/{token}/answer", device_answer)
    app.router.add_route("*", "/activate/{code}", activation_page)
    app.router.add_get("/activate/{code}/qr.png", activation_qr)
    app.router.add_route("*", "/portal", portal_page)
    app.router.add_get("/static/{name}", static_file)
