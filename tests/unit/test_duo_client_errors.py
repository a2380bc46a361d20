"""The Duo client's pure parts: which failure is which error, reading Duo's answers, and signing exactly as
duo_client 5.7 does. No network."""

from __future__ import annotations

import email.utils
import json
import socket
import ssl

import aiohttp
import duo_client
import pytest
from aiohttp.client_reqrep import ConnectionKey
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from duomfa.duo import DuoApiError, DuoBadResponse, DuoClient, DuoDevice, DuoFault, DuoUnavailable
from duomfa.duo.client import (
    decode_response,
    fault_from,
    parse_auth,
    parse_preauth,
    parse_time,
    sign_call,
    split_api_host,
    tls_context,
)

IKEY = "DIXXXXXXXXXXXXXXXXXX"
SKEY = "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef"
AUTH_URL = URL("https://api-xxxx.duosecurity.com/auth/v2/auth")
INFO = aiohttp.RequestInfo(AUTH_URL, "POST", CIMultiDictProxy(CIMultiDict()), AUTH_URL)
KEY = ConnectionKey("api-xxxx.duosecurity.com", 443, True, True, None, None, None)


@pytest.mark.parametrize("failure, reason", [
    # Duo could not be reached: the only faults failmode may act on (and only at preauth)
    (TimeoutError(), "timeout"),
    (aiohttp.ConnectionTimeoutError("Connection timeout"), "timeout"),
    (aiohttp.SocketTimeoutError("Timeout on reading data from socket"), "timeout"),
    (aiohttp.ClientConnectorDNSError(KEY, socket.gaierror(-2, "Name or service not known")), "dns"),
    (aiohttp.ClientConnectorError(KEY, socket.gaierror(-3, "Temporary failure in name resolution")), "dns"),
    (socket.gaierror(-2, "Name or service not known"), "dns"),
    (aiohttp.ClientConnectorError(KEY, ConnectionRefusedError(111, "Connection refused")), "connect"),
    (aiohttp.ClientProxyConnectionError(KEY, ConnectionRefusedError(111, "Connection refused")), "connect"),
    (aiohttp.ServerDisconnectedError(), "connect"),
    (aiohttp.ClientOSError(104, "Connection reset by peer"), "connect"),
    (aiohttp.ClientHttpProxyError(INFO, (), status=502, message="Bad Gateway"), "http_5xx"),
])
def test_failures_before_any_reply_are_unavailable(failure, reason):
    error = fault_from(failure, "preauth")
    assert isinstance(error, DuoUnavailable)
    assert (error.reason, error.endpoint) == (reason, "preauth")
    assert reason in str(error) and "preauth" in str(error)


@pytest.mark.parametrize("failure, reason", [
    # a certificate that does not verify is an impostor or an intercepting proxy, never "Duo is down"
    (aiohttp.ClientConnectorCertificateError(KEY, ssl.SSLCertVerificationError(1, "certificate verify failed")),
     "tls_verify"),
    (ssl.SSLCertVerificationError(1, "hostname mismatch"), "tls_verify"),
    (aiohttp.ClientConnectorSSLError(KEY, ssl.SSLError(1, "wrong version number")), "tls"),
    (ssl.SSLError(1, "tlsv1 alert"), "tls"),
    (aiohttp.ClientPayloadError("Response payload is not completed"), "truncated"),
    (aiohttp.ClientResponseError(INFO, (), status=400, message="Invalid constant string"), "bad_response"),
    (aiohttp.ClientHttpProxyError(INFO, (), status=407, message="Proxy Authentication Required"), "bad_response"),
])
def test_answers_that_cannot_be_trusted_are_bad_responses(failure, reason):
    error = fault_from(failure, "auth")
    assert isinstance(error, DuoBadResponse) and not isinstance(error, DuoUnavailable)
    assert (error.reason, error.endpoint) == (reason, "auth")


@pytest.mark.parametrize("failure", [aiohttp.ServerDisconnectedError(), aiohttp.ClientOSError(104, "reset"),
                                     TimeoutError()])
def test_a_reply_that_breaks_off_is_truncated_not_unavailable(failure):
    error = fault_from(failure, "auth_status", replied=True)
    assert isinstance(error, DuoBadResponse) and error.reason == "truncated"


def envelope(response) -> bytes:
    return json.dumps({"stat": "OK", "response": response}).encode()


def test_duos_ok_envelope_gives_its_response():
    assert decode_response(200, "OK", envelope({"time": 5})) == {"time": 5}


@pytest.mark.parametrize("status, body", [
    (500, b'{"stat": "FAIL", "code": 50000, "message": "Internal"}'),
    (502, b"<html>Bad Gateway</html>"),
    (503, b""),
])
def test_5xx_is_unavailable_whatever_the_body(status, body):
    with pytest.raises(DuoUnavailable) as raised:
        decode_response(status, "Server Error", body, "auth")
    assert (raised.value.reason, raised.value.http_status) == ("http_5xx", status)


@pytest.mark.parametrize("status, body", [
    (200, b"<html>captive portal</html>"),
    (200, b"\xff\xfe not utf-8"),
    (200, b'{"stat": "FAIL", "code": 40002, "message": "odd"}'),
    (200, b'{"stat": "OK"}'),
    (200, b"[1, 2]"),
    (302, b""),
    (204, b""),
])
def test_anything_but_duos_json_is_a_bad_response(status, body):
    with pytest.raises(DuoBadResponse) as raised:
        decode_response(status, "Whatever", body)
    assert raised.value.reason == "bad_response"


def test_4xx_with_duos_error_is_an_api_error_with_its_code():
    body = b'{"stat": "FAIL", "code": 40002, "message": "Invalid request parameters", "message_detail": "username"}'
    with pytest.raises(DuoApiError) as raised:
        decode_response(400, "Bad Request", body, "auth")
    error = raised.value
    assert (error.http_status, error.code, error.message, error.detail, error.endpoint) == (
        400, 40002, "Invalid request parameters", "username", "auth")
    assert str(error) == "Duo refused the request (auth): HTTP 400 40002: Invalid request parameters (username)"


def test_4xx_that_is_not_duos_json_is_still_an_api_error_never_unavailable():
    # e.g. api_host pointing at some other web server: a configuration mistake must not fail open
    with pytest.raises(DuoApiError) as raised:
        decode_response(404, "Not Found", b"<html>no such page</html>")
    assert (raised.value.http_status, raised.value.code, raised.value.message) == (404, None, "Not Found")


def test_api_error_unavailable_and_bad_response_are_distinct():
    assert not issubclass(DuoApiError, DuoFault) and not issubclass(DuoUnavailable, DuoApiError)
    assert not issubclass(DuoBadResponse, DuoUnavailable) and not issubclass(DuoUnavailable, DuoBadResponse)
    for kind, reason in ((DuoUnavailable, "flaky"), (DuoUnavailable, "bad_response"), (DuoBadResponse, "timeout")):
        with pytest.raises(ValueError):
            kind(reason, "not a reason this kind has")


def test_preauth_reads_phones_and_minimal_token_entries():
    result = parse_preauth({
        "result": "auth", "status_msg": "Account is active",
        "devices": [
            {"device": "DP80Z4GVU82OT8O1BNJF", "type": "phone", "number": "XXX-XXX-4788", "name": "Marx iPhone 13",
             "display_name": "Marx iPhone 13 (XXX-XXX-4788)", "capabilities": ["auto", "push", "sms", "mobile_otp"]},
            {"device": "DHQOEFH4Q6KMAFU7Q8V4", "name": "20361492", "type": "token"},
        ],
    })
    assert result.devices == (
        DuoDevice("DP80Z4GVU82OT8O1BNJF", "phone", "Marx iPhone 13", "XXX-XXX-4788", "Marx iPhone 13 (XXX-XXX-4788)",
                  ("auto", "push", "sms", "mobile_otp")),
        DuoDevice("DHQOEFH4Q6KMAFU7Q8V4", "token", "20361492", "", "20361492", ()),
    )
    enroll = parse_preauth({"result": "enroll", "status_msg": "Enroll an authentication device to proceed",
                            "enroll_portal_url": "https://api-x.duosecurity.com/portal?code=1&akey=DA"})
    assert (enroll.devices, enroll.enroll_portal_url) == ((), "https://api-x.duosecurity.com/portal?code=1&akey=DA")


@pytest.mark.parametrize("response", [
    {"status_msg": "no result"},
    {"result": 1},
    {"result": "auth", "devices": "DP123"},
    {"result": "auth", "devices": [{"name": "no id"}]},
    {"result": "auth", "devices": [{"device": "DP1", "capabilities": "push"}]},
    {"result": "maybe", "status_msg": "an answer Duo never gives"},
    {"result": "waiting", "status_msg": "not a preauth answer"},
    "auth",
])
def test_malformed_preauth_is_a_bad_response(response):
    with pytest.raises(DuoBadResponse) as raised:
        parse_preauth(response)
    assert raised.value.reason == "bad_response"


def test_auth_and_time_answers_are_checked():
    assert parse_auth({"result": "deny", "status": "timeout", "status_msg": "Login timed out."}, "auth_status",
                      "tx").status == "timeout"
    assert parse_time({"time": 1700000000}, "check") == 1700000000
    assert parse_auth({"result": "waiting", "status": "pushed", "status_msg": "Pushed"}, "auth_status", "tx",
                      may_wait=True).waiting
    for bad in ({"time": "1700000000"}, {"time": True}, {}, None):
        with pytest.raises(DuoBadResponse):
            parse_time(bad, "check")
    for answer, may_wait in (({"status": "allow"}, False), ({"result": "waiting"}, False),
                             ({"result": "allowed"}, True), ({"result": "ALLOW"}, True)):
        with pytest.raises(DuoBadResponse):  # only "allow" lets anyone in: anything like it is not Duo
            parse_auth(answer, "auth", None, may_wait=may_wait)


@pytest.mark.parametrize("api_host, signed, netloc", [
    ("api-XXXX.duosecurity.com", "api-xxxx.duosecurity.com", "api-xxxx.duosecurity.com"),
    ("127.0.0.1:8443", "127.0.0.1", "127.0.0.1:8443"),
    ("LocalHost:443", "localhost", "localhost:443"),
    ("[::1]:8443", "::1", "[::1]:8443"),
])
def test_the_signed_host_has_no_port_and_the_url_keeps_it(api_host, signed, netloc):
    assert split_api_host(api_host) == (signed, netloc)


@pytest.mark.parametrize("api_host", ["", "https://api-x.duosecurity.com", "api-x.duosecurity.com/auth",
                                      "api-x.duosecurity.com:https", "user@api-x.duosecurity.com", "host:99999"])
def test_an_api_host_that_is_not_host_and_port_is_refused(api_host):
    with pytest.raises(ValueError):
        split_api_host(api_host)


def what_duo_client_sends(method, path, params, date, monkeypatch):
    """(uri, body, headers) duo_client 5.7's api_call hands to its transport."""
    monkeypatch.setattr(email.utils, "formatdate", lambda *args, **kwargs: date)
    official = duo_client.Auth(ikey=IKEY, skey=SKEY, host="API-xxxx.duosecurity.com")
    captured = {}

    class Captured(Exception):
        pass

    def capture(method, uri, body, headers):
        captured.update(uri=uri, body=body, headers={k.decode(): v.decode() for k, v in headers.items()})
        raise Captured

    monkeypatch.setattr(official, "_make_request", capture)
    with pytest.raises(Captured):
        official.api_call(method, path, params)
    return captured


@pytest.mark.parametrize("method, path, params", [
    ("POST", "/auth/v2/preauth", {"username": "ålice", "ipaddr": "10.1.2.3"}),
    ("POST", "/auth/v2/auth", {"factor": "push", "username": "bob", "async": "1", "device": "auto",
                               "pushinfo": "from=login%20portal&domain=example.com", "type": "Login"}),
    ("GET", "/auth/v2/auth_status", {"txid": "f50324f8-42ce-419d-8403-ed6b78e72d44"}),
    ("GET", "/auth/v2/check", {}),
    ("GET", "/auth/v2/odd", {"a b": "c&d=é", "z": "~*'"}),
])
def test_signed_request_is_byte_for_byte_duo_clients(method, path, params, monkeypatch):
    date = "Tue, 24 Nov 2026 23:19:20 -0000"
    reference = what_duo_client_sends(method, path, params, date, monkeypatch)
    ours = sign_call(method, path, params, ikey=IKEY, skey=SKEY, host="api-xxxx.duosecurity.com", date=date)
    sent_uri = f"{path}?{ours.query}" if method == "GET" else path  # duo_client adds "?" even when empty
    assert sent_uri == reference["uri"]
    assert (ours.body.decode() if ours.body is not None else None) == reference["body"]
    theirs = {k.lower(): v for k, v in reference["headers"].items() if k != "User-Agent"}
    assert {k.lower(): v for k, v in ours.headers.items()} == theirs


def test_tls_verifies_certificate_and_host_name_with_duos_pinned_bundle_by_default():
    context = tls_context(None)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    pinned = ssl.create_default_context(cafile=duo_client.client.DEFAULT_CA_CERTS).get_ca_certs()
    assert context.get_ca_certs() == pinned and pinned


def test_the_skey_is_not_in_the_clients_repr_or_attributes():
    client = DuoClient(IKEY, SKEY, "api-xxxx.duosecurity.com")
    assert SKEY not in repr(client) and SKEY not in repr(vars(client))
    assert (client.ikey, client.api_host) == (IKEY, "api-xxxx.duosecurity.com")


async def test_a_busy_proxy_refuses_the_call_instead_of_timing_out_as_if_duo_were_down():
    from duomfa.duo import DuoBusy, DuoClient

    client = DuoClient("DI" + "A" * 18, "s" * 40, "127.0.0.1:9", api_timeout=0.2, max_connections=1)
    await client._call_slots.acquire()  # every slot for ordinary calls taken by calls still under way
    try:
        with pytest.raises(DuoBusy):
            await client.preauth("alice")
    finally:
        client._call_slots.release()
        await client.close()
