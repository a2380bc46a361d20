"""What the MFA service serves and what it does not, said the way Duo says it: under Duo's API paths every refusal
is Duo's JSON — Auth API v1 (`/rest/v1/`), the Admin API, unknown Auth API v2 paths, wrong methods — while the
device, activation and portal pages keep answering in HTML."""

from __future__ import annotations

import http.client
import json
import ssl

import pytest
from duo_client.auth_v1 import AuthV1

from support import MfaServer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    mfa = MfaServer(tmp_path_factory.mktemp("mfa")).start()
    yield mfa
    mfa.stop()


@pytest.fixture(scope="module")
def app(server):
    return server.admin("app", "add", "scope")


def raw(server: MfaServer, method: str, path: str, body: str | None = None) -> tuple[int, str, dict[str, str], bytes]:
    context = ssl.create_default_context(cafile=server.ca_cert)
    connection = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=30)
    try:
        connection.request(method, path, body=body,
                           headers={"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), dict(response.getheaders()), response.read()
    finally:
        connection.close()


def duo_fail(status: int, content_type: str, body: bytes) -> tuple[int, int, str]:
    assert content_type.startswith("application/json"), (status, content_type, body)
    document = json.loads(body)
    assert document["stat"] == "FAIL", document
    return status, document["code"], document["message"]


@pytest.mark.parametrize("method, path", [
    ("GET", "/rest/v1/ping"),
    ("POST", "/rest/v1/preauth"),
    ("GET", "/rest/v1/status?txid=x"),
    ("POST", "/rest/v1/preauth.bson"),
    ("GET", "/auth/v2/no-such-endpoint"),
    ("POST", "/auth/v1/preauth"),
    ("GET", "/admin/v1/users"),
    ("POST", "/admin/v2/integrations"),
    ("GET", "/auth"),
])
def test_paths_not_served_under_duos_api_get_duos_json_404(server, method, path):
    status, content_type, _, body = raw(server, method, path, "" if method == "POST" else None)
    assert duo_fail(status, content_type, body) == (404, 40401, "Resource not found")


def test_auth_api_v1_clients_get_a_clear_error(server, app):
    v1 = AuthV1(ikey=app["ikey"], skey=app["skey"], host="127.0.0.1", port=server.port, ca_certs=server.ca_cert)
    with pytest.raises(RuntimeError, match="Received 404 Resource not found"):
        v1.ping()
    with pytest.raises(RuntimeError, match="Received 404 Resource not found"):
        v1.preauth("alice")


@pytest.mark.parametrize("method, path, allowed", [
    ("GET", "/auth/v2/preauth", "POST"),
    ("PUT", "/auth/v2/auth", "POST"),
    ("POST", "/auth/v2/auth_status", "GET"),
    ("DELETE", "/auth/v2/check", "GET"),
    ("POST", "/auth/v2/ping", "GET"),
])
def test_wrong_method_on_an_endpoint_is_duos_json_405(server, method, path, allowed):
    status, content_type, headers, body = raw(server, method, path, "" if method in ("POST", "PUT") else None)
    assert duo_fail(status, content_type, body) == (405, 40501, "Method not allowed")
    assert allowed in headers["Allow"]


def test_served_endpoints_still_answer(server, app):
    assert raw(server, "GET", "/auth/v2/ping")[0] == 200
    assert server.client(app["ikey"], app["skey"]).check()["time"] > 0
    status, content_type, _, body = raw(server, "GET", "/auth/v2/check")
    assert duo_fail(status, content_type, body) == (401, 40101, "Missing request credentials")


@pytest.mark.parametrize("path", ["/device/not-a-device-token", "/activate/not-a-code"])
def test_pages_keep_their_html_errors(server, path):
    status, content_type, _, body = raw(server, "GET", path)
    assert status == 404 and content_type.startswith("text/html") and b"<html" in body
