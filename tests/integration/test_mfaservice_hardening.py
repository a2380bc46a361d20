"""What a security review asked of the MFA service, shown over real HTTPS to `duomfa mfa serve`, with duo_client
as the peer wherever a signed call is involved: signatures cover every parameter used, malformed credentials are
Duo's 401 (never a 500), the data directory is private, token names hold no seed, seeds need not be on the
command line, a locked database does not stall the event loop, and a used code stays used through a crash."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import http.client
import json
import os
import socket
import sqlite3
import ssl
import stat
import subprocess
import sys
import threading
import time

import pyotp
import pytest
from duo_client.client import sign

from support import MfaServer, duomfa, duomfa_json

SEED_HEX = "3132333435363738393031323334353637383930"  # RFC 4226 appendix D: counter 0 is 755224, 1 is 287082
HOTP_CODES = ["755224", "287082", "359152", "969429"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    mfa = MfaServer(tmp_path_factory.mktemp("mfa"), "--lockout-threshold", "0").start()
    yield mfa
    mfa.stop()


@pytest.fixture(scope="module")
def app(server):
    return server.admin("app", "add", "hardening")


def https(server: MfaServer, raw_request: bytes) -> tuple[int, bytes]:
    """Send exactly these bytes over TLS (the service's CA trusted) and return the status and body."""
    context = ssl.create_default_context(cafile=server.ca_cert)
    with (socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock,
          context.wrap_socket(sock, server_hostname="127.0.0.1") as tls):
        tls.sendall(raw_request)
        response = http.client.HTTPResponse(tls)
        response.begin()
        return response.status, response.read()


def request_bytes(server: MfaServer, method: str, path: str, headers: dict[str, bytes], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), f"Host: 127.0.0.1:{server.port}".encode()]
    lines += [name.encode() + b": " + value for name, value in headers.items()]
    lines += [b"Content-Length: " + str(len(body)).encode(), b"Connection: close", b"", b""]
    return b"\r\n".join(lines) + body


def duo_error(status: int, body: bytes) -> tuple[int, int]:
    document = json.loads(body)
    assert document["stat"] == "FAIL" and isinstance(document["message"], str), document
    return status, document["code"]


# 1. A v2 signature covers form parameters only: it never vouches for a JSON body.

@pytest.mark.parametrize("digestmod", [hashlib.sha1, hashlib.sha512], ids=["v2-sha1", "v2-sha512"])
def test_v2_signature_with_a_json_body_it_does_not_cover_is_refused(server, app, digestmod):
    victim = server.admin("user", "add", f"victim-{digestmod().name}", "--totp")["username"]
    date = email.utils.formatdate()
    # a signature over no parameters at all, e.g. one seen on another request within the last five minutes
    authorization = sign(app["ikey"], app["skey"], "POST", "127.0.0.1", "/auth/v2/preauth", date, 2, {},
                         digestmod=digestmod).encode()
    headers = {"Date": date.encode(), "Authorization": authorization}
    smuggled = json.dumps({"username": victim}).encode()
    status, body = https(server, request_bytes(server, "POST", "/auth/v2/preauth",
                                               {**headers, "Content-Type": b"application/json"}, smuggled))
    assert duo_error(status, body) == (401, 40103)
    # the same signature with the (empty) form body it does cover is good: the JSON body alone made it fail
    status, body = https(server, request_bytes(server, "POST", "/auth/v2/preauth",
                                               {**headers, "Content-Type": b"application/x-www-form-urlencoded"}))
    assert duo_error(status, body) == (400, 40001)  # past the signature: "username" is missing


def test_v2_form_request_signed_over_its_parameters_is_accepted(server, app):
    username = server.admin("user", "add", "form-signed", "--totp")["username"]
    date = email.utils.formatdate()
    params = {"username": [username]}
    authorization = sign(app["ikey"], app["skey"], "POST", "127.0.0.1", "/auth/v2/preauth", date, 2, params,
                         digestmod=hashlib.sha1).encode()
    status, body = https(server, request_bytes(
        server, "POST", "/auth/v2/preauth", {"Date": date.encode(), "Authorization": authorization,
                                              "Content-Type": b"application/x-www-form-urlencoded"},
        f"username={username}".encode()))
    assert status == 200 and json.loads(body)["response"]["result"] == "auth"


# 2. Malformed Authorization headers get Duo's 401, never a 500.

def _basic(raw: bytes) -> bytes:
    return b"Basic " + base64.b64encode(raw)


AUTHORIZATIONS = {
    # name: (header value given the integration's ikey (None: no header at all), Duo code expected)
    "absent": (lambda ikey: None, 40101),
    "empty": (lambda ikey: b"", 40101),
    "other scheme": (lambda ikey: b"Bearer abc.def", 40101),
    "no credentials": (lambda ikey: b"Basic", 40101),
    "bad base64": (lambda ikey: b"Basic !!not*base64!!", 40101),
    "no colon": (lambda ikey: _basic(ikey.encode()), 40101),
    "no ikey": (lambda ikey: _basic(b":" + b"0" * 40), 40102),
    "no signature": (lambda ikey: _basic(ikey.encode() + b":"), 40103),
    "raw non-ascii bytes": (lambda ikey: b"Basic \xff\xfe\xfd\xfc", 40101),
    "utf-8 text": ("Basic ключ".encode(), 40101),
    "non-utf-8 credentials": (lambda ikey: _basic(ikey.encode() + b":" + b"\xff" * 40), 40101),
    "non-ascii signature": (lambda ikey: _basic(f"{ikey}:{'é' * 40}".encode()), 40101),
    "huge": (lambda ikey: b"Basic " + b"QUFB" * 2000, 40101),
    "unknown ikey": (lambda ikey: _basic(b"DI" + b"0" * 18 + b":" + b"0" * 40), 40102),
    "not hex": (lambda ikey: _basic(ikey.encode() + b":" + b"z" * 40), 40103),
    "wrong signature": (lambda ikey: _basic(ikey.encode() + b":" + b"0" * 128), 40103),
}


@pytest.mark.parametrize("case", list(AUTHORIZATIONS))
def test_malformed_authorization_gets_duos_401(server, app, case):
    make, expected = AUTHORIZATIONS[case]
    value = make if isinstance(make, bytes) else make(app["ikey"])
    headers = {"Date": email.utils.formatdate().encode()}
    if value is not None:
        headers["Authorization"] = value
    for method, path in (("GET", "/auth/v2/check"), ("POST", "/auth/v2/preauth")):
        status, body = https(server, request_bytes(server, method, path, headers))
        assert duo_error(status, body) == (401, expected), (method, body)
    assert server.process.poll() is None


def test_a_header_longer_than_the_http_parser_takes_is_refused_and_the_service_carries_on(server, app):
    status, _ = https(server, request_bytes(server, "GET", "/auth/v2/check",
                                            {"Authorization": b"Basic " + b"A" * 20_000}))
    assert status == 400  # aiohttp's own limit (8190 bytes a header line): it never reaches the service
    assert server.client(app["ikey"], app["skey"]).check()["time"] > 0


# 3. The data directory is its owner's only.

def _modes(root):
    found = {".": stat.S_IMODE(os.lstat(root).st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(os.lstat(path).st_mode)
    return found


def test_data_directory_is_private_whatever_the_umask_and_the_directory_handed_over(tmp_path):
    data = tmp_path / "handed-over"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    old_umask = os.umask(0)  # inherited by the commands below: everything they create would be world-writable
    try:
        created = duomfa("mfa", "app", "add", "vpn", "--json", "--data", str(data))
        assert f"{data}: mode 0755 -> 0700" in created.stderr
        app = json.loads(created.stdout)
        user = duomfa_json("mfa", "user", "add", "modes", "--totp", "--data", str(data))
        server = MfaServer(data).start()
        try:
            code = pyotp.parse_uri(user["totp_uri"]).now()
            assert server.client(app["ikey"], app["skey"]).auth(
                "passcode", username="modes", passcode=code)["result"] == "allow"
            modes = _modes(data)  # while the service runs: its WAL and shared-memory files exist
        finally:
            server.stop()
    finally:
        os.umask(old_umask)
    assert {"mfa.sqlite3", "mfa.sqlite3-wal", "mfa.sqlite3-shm", "tls/ca.key", "tls/server.key", "tls/ca.pem",
            "tls/server.pem", "logs/auth.jsonl", "logs/admin.jsonl", "duomfa-mfaservice.json"} <= set(modes)
    assert modes == {path: 0o700 if (data / path).is_dir() else 0o600 for path in modes}


def test_wider_modes_are_narrowed_when_the_data_directory_is_opened_with_one_notice(tmp_path):
    data = tmp_path / "d"
    duomfa("mfa", "app", "add", "vpn", "--data", str(data))
    (data / "logs" / "admin.jsonl").chmod(0o644)
    (data / "tls" / "ca.key").chmod(0o640)
    (data / "tls").chmod(0o755)
    listed = duomfa("mfa", "app", "list", "--json", "--data", str(data))
    json.loads(listed.stdout)  # notices go to stderr: --json output stays one JSON object
    notices = sorted(line for line in listed.stderr.splitlines() if "notice" in line)
    assert notices == sorted([
        f"duomfa: notice: {data / 'logs' / 'admin.jsonl'}: mode 0644 -> 0600 (the MFA service's data is for its "
        "owner only)",
        f"duomfa: notice: {data / 'tls' / 'ca.key'}: mode 0640 -> 0600 (the MFA service's data is for its owner "
        "only)",
        f"duomfa: notice: {data / 'tls'}: mode 0755 -> 0700 (the MFA service's data is for its owner only)",
    ])
    assert all(mode in (0o600, 0o700) for mode in _modes(data).values())
    assert "notice" not in duomfa("mfa", "app", "list", "--data", str(data)).stderr


# 4. and 5. Hardware tokens: names without seed material; the seed from a file or standard input.

def run_duomfa(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "duomfa", *args], input=input, capture_output=True, text=True,
                          timeout=60)


def _seed_windows(seed: str) -> set[str]:
    return {seed[i:i + 4].lower() for i in range(len(seed) - 3)}


@pytest.mark.parametrize("how", ["--secret HEX", "--secret -", "--secret-stdin", "--secret-file"])
def test_hotp_seed_from_argument_stdin_or_file_logs_in_and_is_never_echoed(server, app, tmp_path, how):
    username = server.admin("user", "add", f"token-{how.strip('-').replace(' ', '-')}", "--totp")["username"]
    data = ["--data", str(server.data), "--json"]
    if how == "--secret HEX":
        result = run_duomfa("mfa", "hotp", "add", username, "--secret", SEED_HEX, *data)
        assert "visible to other users" in result.stderr
    elif how == "--secret-file":
        seed_file = tmp_path / "seed.hex"
        seed_file.write_text(SEED_HEX + "\n")
        result = run_duomfa("mfa", "hotp", "add", username, "--secret-file", str(seed_file), *data)
    else:
        result = run_duomfa("mfa", "hotp", "add", username, *how.split(), *data, input=SEED_HEX + "\n")
    assert result.returncode == 0, result.stderr
    device = json.loads(result.stdout)["device"]
    assert device["name"] == "HOTP token 1"
    said = (result.stdout + result.stderr).lower()
    assert SEED_HEX not in said and not any(window in device["name"].lower() for window in _seed_windows(SEED_HEX))
    assert how == "--secret HEX" or "visible to other users" not in result.stderr
    # the seed was read whole: the token's first code logs in (once)
    auth = server.client(app["ikey"], app["skey"])
    assert auth.auth("passcode", username=username, passcode=HOTP_CODES[0])["result"] == "allow"
    assert auth.auth("passcode", username=username, passcode=HOTP_CODES[0])["result"] == "deny"
    # and the name every application sees in preauth holds nothing of the seed
    listed = auth.preauth(username=username)["devices"]
    token = next(d for d in listed if d["device"] == device["device"])
    assert not any(window in token["name"].lower() for window in _seed_windows(SEED_HEX))
    logs = (server.data / "logs" / "admin.jsonl").read_text() + (server.data / "logs" / "auth.jsonl").read_text()
    assert SEED_HEX not in logs


def test_hotp_seed_input_errors_say_where_not_what(server, tmp_path):
    username = server.admin("user", "add", "token-errors", "--totp")["username"]
    data = ["--data", str(server.data)]
    missing = run_duomfa("mfa", "hotp", "add", username, "--secret-file", str(tmp_path / "nope"), *data)
    assert missing.returncode == 1 and "cannot read --secret-file" in missing.stderr
    empty = run_duomfa("mfa", "hotp", "add", username, "--secret-stdin", *data, input="")
    assert empty.returncode == 1 and "no HOTP seed on standard input" in empty.stderr
    almost = "zz112233445566778899aabbccddeeff0011beef"
    not_hex = run_duomfa("mfa", "hotp", "add", username, "--secret-stdin", *data, input=almost)
    assert not_hex.returncode == 1 and "hexadecimal" in not_hex.stderr and almost[2:] not in not_hex.stderr
    both = run_duomfa("mfa", "hotp", "add", username, "--secret", SEED_HEX, "--secret-stdin", *data)
    assert both.returncode == 2  # argparse: one source only
    assert server.admin("user", "show", username)["devices"][-1]["type"] == "phone"  # nothing was added


def test_seed_named_tokens_from_older_versions_are_renamed_when_the_data_is_opened(tmp_path):
    data = tmp_path / "d"
    duomfa("mfa", "user", "add", "legacy", "--totp", "--data", str(data))
    seed_file = tmp_path / "seed"
    seed_file.write_text(SEED_HEX)
    token = duomfa_json("mfa", "hotp", "add", "legacy", "--secret-file", str(seed_file), "--data", str(data))
    db = sqlite3.connect(data / "mfa.sqlite3")
    with db:  # what `hotp add` of earlier versions wrote
        db.execute("UPDATE devices SET name = ? WHERE device_id = ?",
                   (f"HOTP token {SEED_HEX[-4:]}", token["device"]["device"]))
    db.close()
    shown = duomfa("mfa", "user", "show", "legacy", "--json", "--data", str(data))
    names = {d["device"]: d["name"] for d in json.loads(shown.stdout)["devices"]}
    assert names[token["device"]["device"]] == "HOTP token 1"
    assert f"renamed hardware token {token['device']['device']} to 'HOTP token 1'" in shown.stderr
    assert SEED_HEX[-4:] not in shown.stderr
    assert "renamed" not in duomfa("mfa", "user", "show", "legacy", "--data", str(data)).stderr


# 6. A database locked by another process does not stall the event loop.

def test_ping_is_answered_while_an_auth_waits_for_a_locked_database_which_then_completes(server, app):
    username = server.admin("user", "add", "locked-out-of-the-db", "--totp")["username"]
    code = server.admin("user", "bypass-codes", username, "--count", "1")["bypass_codes"][0]
    auth = server.client(app["ikey"], app["skey"])
    holder = sqlite3.connect(server.data / "mfa.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    outcome: list = []
    waiting = threading.Thread(target=lambda: outcome.append(
        auth.auth("passcode", username=username, passcode=code)))
    try:
        waiting.start()
        time.sleep(1.0)  # the auth has read its bypass code and now waits to burn it
        assert waiting.is_alive() and not outcome
        pings = []
        for _ in range(5):
            started = time.monotonic()
            assert auth.ping()["time"] > 0
            pings.append(time.monotonic() - started)
        assert max(pings) < 1.0, pings  # the event loop is not the one waiting (it was: ~9 s, the busy timeout)
        assert waiting.is_alive() and not outcome  # and the auth is still waiting on the lock
    finally:
        holder.execute("COMMIT")
        holder.close()
    waiting.join(timeout=10)
    assert outcome == [{"result": "allow", "status": "allow", "status_msg": "Success. Logging you in..."}]


def test_a_database_locked_past_the_busy_timeout_is_duos_503_error(tmp_path, monkeypatch):
    import asyncio

    from duomfa.mfaservice import server as server_module
    from duomfa.mfaservice import store
    from duomfa.mfaservice.admin import Admin
    from duomfa.mfaservice.server import start_service
    from duomfa.mfaservice.service import Policy

    monkeypatch.setattr(store, "BUSY_TIMEOUT_SECONDS", 0.5)
    monkeypatch.setattr(server_module, "tune_garbage_collector", lambda: None)  # not for the test process
    data = tmp_path / "d"
    admin = Admin(data)
    app = admin.add_app("busy")
    admin.add_user("busy", totp=True, push=False, phone=None)
    code = admin.bypass_codes("busy", 1)["bypass_codes"][0]
    admin.close()

    async def main():
        running = await start_service(data, "127.0.0.1", 0, Policy())
        try:
            import duo_client

            auth = duo_client.Auth(ikey=app["ikey"], skey=app["skey"], host="127.0.0.1", port=running.port,
                                   ca_certs=str(running.data_dir.ca_cert))
            holder = sqlite3.connect(data / "mfa.sqlite3", isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")
            try:
                with pytest.raises(RuntimeError) as caught:
                    await asyncio.to_thread(auth.auth, "passcode", username="busy", passcode=code)
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            assert caught.value.status == 503
            assert caught.value.data == {"stat": "FAIL", "code": 50300, "message": "Service temporarily unavailable",
                                         "message_detail": "the database is busy; try again"}
            # the code was not used: it still logs in once the lock is gone
            result = await asyncio.to_thread(auth.auth, "passcode", username="busy", passcode=code)
            assert result["result"] == "allow"
        finally:
            await running.close()

    asyncio.run(main())
    assert code not in (data / "logs" / "auth.jsonl").read_text()


# 7. A used code stays used: committed and synced before "allow" is sent, so even a crash cannot bring it back.

def test_service_says_its_database_syncs_every_commit(server):
    started = "".join(server.output)
    assert "(WAL, synchronous=FULL: a used one-time code is on disk before the answer goes out)" in started


def _crash_and_restart(server: MfaServer) -> MfaServer:
    server.process.kill()  # SIGKILL: no clean shutdown, no last checkpoint
    server.process.wait(timeout=10)
    server._reader.join(timeout=5)
    server.process = None
    restarted = MfaServer(server.data)
    restarted.port = server.port
    return restarted.start()


def test_used_codes_stay_used_after_the_service_is_killed_right_after_allowing_them(tmp_path):
    data = tmp_path / "d"
    server = MfaServer(data, "--lockout-threshold", "0").start()
    try:
        app = server.admin("app", "add", "replay")
        totp = pyotp.parse_uri(server.admin("user", "add", "replay", "--totp")["totp_uri"])
        server.admin("user", "add", "replay-sms", "--phone", "+15555550199")
        seed_file = tmp_path / "seed"
        seed_file.write_text(SEED_HEX)
        duomfa("mfa", "hotp", "add", "replay", "--secret-file", str(seed_file), "--data", str(data))
        bypass = server.admin("user", "bypass-codes", "replay", "--count", "2")["bypass_codes"][0]
        auth = server.client(app["ikey"], app["skey"])
        assert auth.auth("sms", username="replay-sms", device="auto")["status"] == "sent"
        db = sqlite3.connect(data / "mfa.sqlite3")
        sms = db.execute("SELECT code FROM sms_codes").fetchone()[0]
        db.close()
        for username, passcode in (("replay", bypass), ("replay", HOTP_CODES[1]), ("replay", totp.now()),
                                   ("replay-sms", sms)):
            auth = server.client(app["ikey"], app["skey"])
            assert auth.auth("passcode", username=username, passcode=passcode)["result"] == "allow"
            server = _crash_and_restart(server)
            replay = server.client(app["ikey"], app["skey"]).auth("passcode", username=username, passcode=passcode)
            assert replay["result"] == "deny", (username, replay)
    finally:
        server.stop()
