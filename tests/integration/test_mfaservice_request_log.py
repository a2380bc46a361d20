"""`--log-requests`: one JSON line per API request in logs/requests.jsonl (and, for `duomfa mfa serve`, on standard
output) — method, path, parameter names, ikey, HTTP status, Duo code, duration — and never a signature, skey,
passcode or parameter value. With `duomfa mfa serve` and with `duomfa up`."""

from __future__ import annotations

import base64
import email.utils
import http.client
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pyotp
import pytest

from support import MfaServer, duomfa_json, free_port

FIELDS = {"time", "level", "event", "method", "path", "params", "ikey", "status", "code", "duration_ms"}


def read_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def raw_post(server: MfaServer, path: str, body: str, headers: dict[str, str]) -> int:
    context = ssl.create_default_context(cafile=server.ca_cert)
    connection = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=30)
    try:
        connection.request("POST", path, body=body,
                           headers={"Content-Type": "application/x-www-form-urlencoded", **headers})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    mfa = MfaServer(tmp_path_factory.mktemp("mfa"), "--log-requests").start()
    yield mfa
    mfa.stop()


def test_each_api_request_is_one_line_with_names_but_no_values_or_secrets(server):
    app = server.admin("app", "add", "logged")
    created = server.admin("user", "add", "loggeduser", "--totp")
    code = pyotp.parse_uri(created["totp_uri"]).now()
    log_path = server.data / "logs" / "requests.jsonl"
    before = len(read_log(log_path)) if log_path.exists() else 0

    auth = server.client(app["ikey"], app["skey"])  # v5: parameters in a JSON body
    assert auth.ping()["time"] > 0
    assert auth.preauth(username="loggeduser", ipaddr="192.0.2.77")["result"] == "auth"
    assert auth.auth("passcode", username="loggeduser", passcode=code)["result"] == "allow"
    with pytest.raises(RuntimeError, match="401"):
        server.client(app["ikey"], "w" * 40, sig_version=2).check()
    with pytest.raises(RuntimeError, match="404"):
        auth.json_api_call("GET", "/rest/v1/status", {"txid": "secret-looking-value"})
    # a malformed body whose only "name" is a value: counted, not shown
    bad = base64.b64encode(f"{app['ikey']}:{'0' * 128}".encode()).decode()
    assert raw_post(server, "/auth/v2/auth", "987654321", {
        "Authorization": f"Basic {bad}", "Date": email.utils.formatdate()}) == 401
    # a device page is not an API request
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do; only the log matters here
        auth.json_api_call("GET", f"/device/{created['devices'][0]['device_page'].rsplit('/', 1)[-1]}", {})
    assert raw_post(server, "/auth/v2/ping", "", {}) == 405  # unsigned, and the wrong method

    lines = read_log(log_path)[before:]
    assert [(line["method"], line["path"], line["status"], line["code"]) for line in lines] == [
        ("GET", "/auth/v2/ping", 200, None),
        ("POST", "/auth/v2/preauth", 200, None),
        ("POST", "/auth/v2/auth", 200, None),
        ("GET", "/auth/v2/check", 401, 40103),
        ("GET", "/rest/v1/status", 404, 40401),
        ("POST", "/auth/v2/auth", 401, 40103),
        ("POST", "/auth/v2/ping", 405, 40501),
    ]
    for line in lines:
        assert line.keys() >= FIELDS and (line["event"], line["level"]) == ("request", "INFO")
        assert line["duration_ms"] >= 0
    assert lines[1]["params"] == ["ipaddr", "username"]
    assert lines[2]["params"] == ["async", "factor", "passcode", "username"]
    assert lines[4]["params"] == ["txid"]
    assert lines[5]["params"] == [] and lines[5]["other_params"] == 1
    assert {line["ikey"] for line in lines[:-1]} == {app["ikey"]}  # duo_client signs even /ping
    assert lines[-1]["ikey"] is None
    text = log_path.read_text()
    for secret in (code, app["skey"], "w" * 40, "0" * 128, "987654321", "secret-looking-value", "loggeduser",
                   "192.0.2.77", "Basic"):
        assert secret not in text
    assert not re.search(r"[0-9a-f]{40}", text)  # no signature of any length
    # `mfa serve` echoes the lines on standard output too
    assert any('"event":"request"' in out and '"/auth/v2/preauth"' in out for out in server.output)


def test_without_the_option_no_request_log_is_written(tmp_path):
    quiet = MfaServer(tmp_path / "mfa").start()
    try:
        app = quiet.admin("app", "add", "quiet")
        assert quiet.client(app["ikey"], app["skey"]).check()["time"] > 0
    finally:
        quiet.stop()
    assert not (quiet.data / "logs" / "requests.jsonl").exists()
    assert '"event":"request"' not in "".join(quiet.output)


def test_duomfa_up_with_log_requests_logs_the_proxys_calls(tmp_path):
    root = tmp_path / "stack"
    port, http_port, mfa_port = free_port(2), free_port(), free_port()  # 2: SOCK_DGRAM
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUOMFA_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "duomfa", "up", "--data", str(root), "--port", str(port), "--http-port",
         str(http_port), "--mfa-port", str(mfa_port), "--log-requests"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**env, "PYTHONUNBUFFERED": "1"})
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "Ctrl-C stops the stack" in line:
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert ready.wait(60) and process.poll() is None, "".join(lines)
        banner = "".join(lines)
        secret = re.search(r"shared secret (\S+)", banner).group(1)
        code = pyotp.parse_uri(re.search(r"(otpauth://\S+)", banner).group(1)).now()
        result = duomfa_json("radtest", "demo", code, "--port", str(port), "--secret", secret, "--timeout", "10")
        assert result["code"] == "Access-Accept", result
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
    log = read_log(root / "mfaservice" / "logs" / "requests.jsonl")
    calls = [(line["path"], line["status"]) for line in log]
    assert ("/auth/v2/preauth", 200) in calls and ("/auth/v2/auth", 200) in calls
    passcode_call = next(line for line in log if line["path"] == "/auth/v2/auth")
    assert "passcode" in passcode_call["params"] and passcode_call["ikey"].startswith("DI")
    assert code not in (root / "mfaservice" / "logs" / "requests.jsonl").read_text()
