"""The pages a person uses in place of a phone: a device page per device (pending pushes and calls with
Approve / Deny, the SMS inbox, the current passcode), and the activation and self-enrollment pages.

A device page's address holds an unguessable token; whoever has it can answer for that device, as whoever
holds the phone can. Each page is built on the store worker (`MfaService.run`), where its store reads happen.
"""

from __future__ import annotations

import datetime
import html
import math
import time
import urllib.parse
from importlib import resources
from typing import Any

from aiohttp import web

from duomfa.mfaservice import otp, qr
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
STATIC_TYPES = {"device.css": "text/css", "device.js": "application/javascript"}
# inline, so that it needs no package-data entry: a white tick on green, the Approve button's colours
FAVICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#1a7f37"/>'
    '<path d="M9 16.5l4.5 4.5L23 11.5" fill="none" stroke="#fff" stroke-width="3.5" stroke-linecap="round" '
    'stroke-linejoin="round"/></svg>'
)
DECISIONS = ("approve", "deny")
_ROW_TESTIDS = {0: "username", 1: "time", 2: "ipaddr"}  # request_details' first rows
_ACRONYMS = {"ip": "IP", "id": "ID", "url": "URL", "os": "OS", "vpn": "VPN", "dns": "DNS", "mac": "MAC"}


def _page(title: str, body: str, status: int = 200) -> web.Response:
    document = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><link rel=icon href='/static/favicon.svg' type='image/svg+xml'>"
        "<link rel=stylesheet href='/static/device.css'></head>"
        f"<body><main>{body}</main><script src='/static/device.js'></script></body></html>"
    )
    return web.Response(text=document, content_type="text/html", status=status, headers=SECURITY_HEADERS)


def _when(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _countdown(expires_at: float, now: float, testid: str, period: int | None = None) -> str:
    """Seconds left until expires_at; device.js keeps it counting (and, given a period, starts the next one),
    without JavaScript it says what was left when the page was made."""
    left = max(0, math.ceil(expires_at - now))
    repeat = f" data-period={period}" if period else ""
    return (f"<span role=timer class=countdown data-testid={testid} data-expires-at='{expires_at:.3f}'{repeat}>"
            f"{left} s</span>")


def pushinfo_label(key: str) -> str:
    """A readable label for a pushinfo key: `client_ip` -> `Client IP`."""
    words = key.replace("_", " ").replace("-", " ").split()
    words = [_ACRONYMS.get(word.lower(), word) for word in words]
    if not words:
        return "Detail"
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def request_details(item: dict[str, Any]) -> list[tuple[str, str]]:
    """The rows a request shows: who, when, from where, then each pushinfo item once. A pushinfo item that says
    what a row above already says (the proxy sends the client IP both as ipaddr and in pushinfo) is not repeated;
    one that says something else under the same label keeps its own key beside the label."""
    rows = [("User", item["username"]), ("Time", item["time"]), ("Client IP", item["ipaddr"])]
    for key, value in item["pushinfo"]:
        label = pushinfo_label(key)
        same_label = [i for i, (shown, _) in enumerate(rows) if shown.casefold() == label.casefold()]
        if any(rows[i][1] == value for i in same_label):
            continue
        if same_label and not rows[same_label[0]][1]:
            rows[same_label[0]] = (rows[same_label[0]][0], value)
            continue
        rows.append((f"{label} ({key})" if same_label else label, value))
    return [(label, value or "unknown") if index < 3 else (label, value) for index, (label, value) in enumerate(rows)]


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
        "expires_at": transaction.expires_at,
        "expires_in": max(0, int(transaction.expires_at - time.time())),
    }


def device_state(service: MfaService, device: Device) -> dict[str, Any]:
    now = time.time()
    waiting = service.store.waiting_transactions(device_id=device.device_id)
    inbox = service.store.sms_inbox(device.device_id)
    state: dict[str, Any] = {
        "server_time": now,
        "pending": [transaction_view(service, t) for t in waiting],
        "sms": [{"code": code, "sent": _when(sent), "used": used} for code, sent, used in inbox],
        "passcode": None,
    }
    if device.totp_secret:
        state["passcode"] = otp.totp_now(device.totp_secret, at=now)
        state["passcode_expires_at"] = float((int(now) // otp.TOTP_PERIOD + 1) * otp.TOTP_PERIOD)
    return state


def _request_title(item: dict[str, Any]) -> str:
    return "Incoming call" if item["kind"] == "call" else f"{item['type']} request"


def _render_pending(items: list[dict[str, Any]], token: str, now: float) -> str:
    if not items:
        return "<p class=empty data-testid=no-pending>No pending requests.</p>"
    parts = []
    for number, item in enumerate(items):
        heading_id = f"request-{number}"
        rows = "".join(
            f"<dt>{html.escape(label)}</dt>"
            f"<dd data-testid={_ROW_TESTIDS.get(index, 'detail')}>{html.escape(value)}</dd>"
            for index, (label, value) in enumerate(request_details(item)))
        parts.append(
            f"<article class=request data-testid=pending data-txid='{html.escape(item['txid'])}' "
            f"aria-labelledby={heading_id}>"
            f"<h3 id={heading_id}>{html.escape(_request_title(item))}</h3>"
            f"<p class=expiry>Time left to answer: {_countdown(item['expires_at'], now, 'expires-in')}</p>"
            f"<dl>{rows}</dl>"
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


def confirmation(service: MfaService, device: Device, txid: str, decision: str, settled: bool | None) -> str:
    """What became of a request this page answered, as a notice; "" when txid is not this device's.

    settled: whether this answer decided it (None: not known, as after the redirect of a page without JavaScript;
    then an outcome other than the one asked for means the answer came too late)."""
    transaction = service.store.transaction(txid)
    if (transaction is None or transaction.device_id != device.device_id or decision not in DECISIONS
            or transaction.result == "waiting"):
        return ""
    item = transaction_view(service, transaction)
    title = _request_title(item)
    title = title if title[:2].isupper() else title[:1].lower() + title[1:]  # "the login request", "the VPN request"
    what = (f"the {title} for {item['username'] or 'an unknown user'} "
            f"from {item['ipaddr'] or 'an unknown address'} ({item['time']})")
    outcome = {"allow": "approve", "deny": "deny"}.get(transaction.status, transaction.status)
    if settled is None:
        settled = outcome == decision
    if settled:
        head, css = ("Approved", "approved") if decision == "approve" else ("Denied", "denied")
        text = f"{what[:1].upper()}{what[1:]}."
    else:
        past = {"approve": "approved", "deny": "denied", "timeout": "timed out"}.get(outcome, outcome)
        head, css = "Not answered", "late"
        text = f"{what[:1].upper()}{what[1:]} had already {'been ' if outcome != 'timeout' else ''}{past}."
    return (f"<p class='notice {css}' data-testid=confirmation-text><strong>{head}.</strong> "
            f"{html.escape(text)}</p>")


async def device_page(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    return await service.run(_device_page, service, request.match_info["token"],
                             request.query.get("answered", ""), request.query.get("decision", ""))


def _device_page(service: MfaService, token: str, answered: str = "", decision: str = "") -> web.Response:
    device = service.store.device_by_page_token(token)
    if device is None:
        return _page("Unknown device", "<h1>Unknown device</h1><p>This device link is not valid.</p>", status=404)
    user = service.store.user_by_id(device.user_id)
    state = device_state(service, device)
    now = state["server_time"]
    notice = confirmation(service, device, answered, decision, None) if answered else ""
    page_url = f"/device/{html.escape(token)}"
    enroll = ""
    if device.totp_secret:
        uri = otp.totp_uri(device.totp_secret, user.username if user else device.device_id)
        enroll = (
            "<section aria-labelledby=passcodes><h2 id=passcodes>Passcodes</h2>"
            "<p>Current passcode: "
            f"<strong data-testid=passcode id=passcode>{html.escape(state['passcode'])}</strong></p>"
            "<p class=expiry>Next passcode in "
            f"{_countdown(state['passcode_expires_at'], now, 'passcode-expires-in', otp.TOTP_PERIOD)}</p>"
            "<details><summary>Add to an authenticator app</summary>"
            f"<img class=qr alt='QR code of the TOTP link below' src='{qr.svg_data_uri(uri)}'>"
            f"<p class=uri>{html.escape(uri)}</p></details></section>"
        )
    body = (
        f"<h1>{html.escape(device.name)}</h1>"
        f"<p class=sub>Device {html.escape(device.device_id)} of "
        f"<strong>{html.escape(user.username if user else '?')}</strong></p>"
        "<section aria-labelledby=requests><h2 id=requests>Requests</h2>"
        f"<div id=confirmation role=status data-testid=confirmation>{notice}</div>"
        f"<div id=pending data-token='{html.escape(token)}' data-server-time='{now:.3f}'>"
        f"{_render_pending(state['pending'], token, now)}</div>"
        f"<noscript><p class=empty><a href='{page_url}'>Reload</a> to see new requests.</p></noscript></section>"
        f"{enroll}"
        f"<section aria-labelledby=inbox><h2 id=inbox>SMS inbox</h2><div id=sms>{_render_sms(state['sms'])}</div>"
        "</section>"
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
    state["pending_html"] = _render_pending(state["pending"], token, state["server_time"])
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


def _answer_confirmation(service: MfaService, token: str, txid: str, decision: str, settled: bool) -> str:
    device = service.store.device_by_page_token(token)
    return confirmation(service, device, txid, decision, settled) if device is not None else ""


async def device_answer(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    token = request.match_info["token"]
    form = await request.post()
    txid, decision = str(form.get("txid", "")), str(form.get("decision", ""))
    refused = await service.run(_answerable, service, token, txid)
    if refused is not None:
        return refused
    if decision not in DECISIONS:
        return _page("Not found", "<h1>No such request</h1>", status=404)
    settled = await service.answer(txid, approve=decision == "approve")
    if request.headers.get("Accept", "").startswith("application/json"):
        notice = await service.run(_answer_confirmation, service, token, txid, decision, settled)
        return web.json_response({"settled": settled, "confirmation_html": notice}, headers=SECURITY_HEADERS)
    # without JavaScript: the device page again, with the notice (the outcome is read back from the store)
    raise web.HTTPSeeOther(f"/device/{token}?" + urllib.parse.urlencode({"answered": txid, "decision": decision}))


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
    return web.Response(body=qr.png(f"{service.base_url}/activate/{code}"), content_type="image/png",
                        headers=SECURITY_HEADERS)


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


STATIC_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


async def static_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name == "favicon.svg":
        return await favicon(request)
    if name not in STATIC_TYPES:
        return web.Response(status=404)
    text = resources.files("duomfa.mfaservice").joinpath("static", name).read_text(encoding="utf-8")
    return web.Response(text=text, content_type=STATIC_TYPES[name], headers=STATIC_HEADERS)


async def favicon(request: web.Request) -> web.Response:
    """Also at /favicon.ico, which browsers ask for by themselves (e.g. for the QR image, which names no icon)."""
    return web.Response(text=FAVICON_SVG, content_type="image/svg+xml", headers=STATIC_HEADERS)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/device/{token}", device_page)
    app.router.add_get("/device/{token}/state.json", device_state_json)
    app.router.add_post("/device/{token}/answer", device_answer)
    app.router.add_route("*", "/activate/{code}", activation_page)
    app.router.add_get("/activate/{code}/qr.png", activation_qr)
    app.router.add_route("*", "/portal", portal_page)
    app.router.add_get("/static/{name}", static_file)
    app.router.add_get("/favicon.ico", favicon)
