"""The official duo_client drives a running MFA service over HTTPS, with each signature version it can send."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pyotp
import pytest

from support import MfaServer

PUSH_TIMEOUT = 3
LOCKOUT = 4

# (sig_version, digestmod): duo_client 5.7's default, and the v2 forms older clients send
SIGNATURES = {
    "v5": (5, hashlib.sha512),
    "v2-sha512": (2, hashlib.sha512),
    "v2-sha1": (2, hashlib.sha1),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    mfa = MfaServer(tmp_path_factory.mktemp("mfa"), "--push-timeout", str(PUSH_TIMEOUT),
                    "--lockout-threshold", str(LOCKOUT), "--long-poll", "1").start()
    yield mfa
    mfa.stop()


@pytest.fixture(scope="module")
def app(server):
    return server.admin("app", "add", "tests")


@pytest.fixture(params=list(SIGNATURES))
def auth(request, server, app):
    sig_version, digestmod = SIGNATURES[request.param]
    return server.client(app["ikey"], app["skey"], sig_version=sig_version, digestmod=digestmod)


_counter = iter(range(10**6))


@pytest.fixture
def user(server):
    """A fresh user with a push + TOTP device; returns (username, totp, device page URL)."""
    created = server.admin("user", "add", f"user{next(_counter)}", "--totp", "--push")
    return created["username"], pyotp.parse_uri(created["totp_uri"]), created["devices"][0]


def test_ping_and_check(auth):
    assert abs(auth.ping()["time"] - time.time()) < 5
    assert abs(auth.check()["time"] - time.time()) < 5


def test_preauth_answers_auth_with_the_users_devices(auth, user):
    username, _, device = user
    response = auth.preauth(username=username, ipaddr="10.0.0.9")
    assert response["result"] == "auth"
    assert response["devices"] == [{
        "device": device["device"], "type": "phone", "number": "", "name": device["name"],
        "display_name": device["name"], "capabilities": ["auto", "push", "mobile_otp"],
    }]


def test_preauth_answers_allow_for_bypass_and_deny_for_disabled(auth, server, user):
    username = user[0]
    server.admin("user", "status", username, "bypass")
    assert auth.preauth(username=username)["result"] == "allow"
    assert auth.auth("passcode", username=username, passcode="000000")["status"] == "bypass"
    server.admin("user", "status", username, "disabled")
    assert auth.preauth(username=username)["result"] == "deny"
    refused = auth.auth("push", username=username, device="auto")
    assert refused["result"] == "deny"


def test_preauth_answers_enroll_for_unknown_users(auth, server):
    response = auth.preauth(username="nobody-knows-me")
    assert response["result"] == "enroll"
    assert response["enroll_portal_url"].startswith(f"https://127.0.0.1:{server.port}/portal?")


def test_correct_totp_is_accepted_once_and_refused_on_replay(auth, user):
    username, totp, _ = user
    code = totp.now()
    assert auth.auth("passcode", username=username, passcode=code) == {
        "result": "allow", "status": "allow", "status_msg": "Success. Logging you in..."}
    replay = auth.auth("passcode", username=username, passcode=code)
    assert replay["result"] == "deny"


def test_wrong_totp_is_refused(auth, user):
    username, totp, _ = user
    wrong = str((int(totp.now()) + 1) % 10**6).zfill(6)
    assert auth.auth("passcode", username=username, passcode=wrong) == {
        "result": "deny", "status": "deny", "status_msg": "Incorrect passcode. Please try again."}


def test_bypass_code_works_once(auth, server, user):
    username = user[0]
    codes = server.admin("user", "bypass-codes", username, "--count", "2")["bypass_codes"]
    assert auth.auth("passcode", username=username, passcode=codes[0])["result"] == "allow"
    assert auth.auth("passcode", username=username, passcode=codes[0])["result"] == "deny"
    assert auth.auth("passcode", username=username, passcode=codes[1])["result"] == "allow"


def answer_later(server, username, decision, delay=0.5):
    def answer():
        time.sleep(delay)
        server.admin("push", decision, username)

    thread = threading.Thread(target=answer)
    thread.start()
    return thread


def test_push_approved_allows_synchronously(auth, server, user):
    username = user[0]
    answering = answer_later(server, username, "approve")
    result = auth.auth("push", username=username, device="auto", ipaddr="10.0.0.7")
    answering.join()
    assert result == {"result": "allow", "status": "allow", "status_msg": "Success. Logging you in..."}


def test_push_denied_denies_through_auth_status(auth, server, user):
    username = user[0]
    txid = auth.auth("push", username=username, device="auto", async_txn=True)["txid"]
    first = auth.auth_status(txid)
    assert first["waiting"] and first["status"] == "pushed"
    answering = answer_later(server, username, "deny")
    while (status := auth.auth_status(txid))["waiting"]:
        pass
    answering.join()
    assert status == {"waiting": False, "success": False, "status": "deny", "status_msg": "Login request denied."}


def test_unanswered_push_times_out_as_a_deny(auth, user):
    username = user[0]
    started = time.time()
    result = auth.auth("push", username=username, device="auto")
    assert result == {"result": "deny", "status": "timeout", "status_msg": "Login timed out."}
    assert PUSH_TIMEOUT - 0.5 <= time.time() - started < PUSH_TIMEOUT + 5


def test_consecutive_failures_lock_the_user_out_until_unlocked(auth, server, user):
    username, totp, _ = user
    for _ in range(LOCKOUT):
        assert auth.auth("passcode", username=username, passcode="999999x")["result"] == "deny"
    assert auth.preauth(username=username)["result"] == "deny"
    locked = auth.auth("passcode", username=username, passcode=totp.now())
    assert (locked["result"], locked["status"]) == ("deny", "locked_out")
    server.admin("user", "unlock", username)
    assert auth.preauth(username=username)["result"] == "auth"


def test_wrong_skey_is_an_error_not_a_crash(server, app):
    for sig_version, digestmod in SIGNATURES.values():
        wrong = server.client(app["ikey"], "x" * 40, sig_version=sig_version, digestmod=digestmod)
        with pytest.raises(RuntimeError, match="401 Invalid signature in request credentials"):
            wrong.check()
    unknown = server.client("DI" + "0" * 18, app["skey"])
    with pytest.raises(RuntimeError, match="401 Invalid integration key"):
        unknown.preauth(username="x")
    assert server.process.poll() is None
    assert server.client(app["ikey"], app["skey"]).check()["time"] > 0


def test_missing_parameters_get_duos_error(auth):
    with pytest.raises(RuntimeError, match="400 Missing required request parameters"):
        auth.preauth()
    with pytest.raises(RuntimeError, match="400 Invalid request parameters"):
        auth.auth("push", username="no-such-user-anywhere", device="auto")


def test_sms_sends_new_passcodes_and_one_of_them_logs_in(auth, server):
    created = server.admin("user", "add", f"sms{next(_counter)}", "--phone", "+15555550123")
    username = created["username"]
    assert auth.auth("sms", username=username, device="auto") == {
        "result": "deny", "status": "sent", "status_msg": "New SMS passcodes sent."}
    db = sqlite3.connect(server.data / "mfa.sqlite3")
    codes = [row[0] for row in db.execute(
        "SELECT code FROM sms_codes WHERE device_id = ?", (created["devices"][0]["device"],))]
    assert len(codes) == 10
    preauth = auth.preauth(username=username)
    assert preauth["devices"][0]["sms_nextcode"] == codes[0][0]  # per device, as Duo documents it
    assert "sms_nextcode" not in preauth
    assert auth.auth("passcode", username=username, passcode=codes[3])["result"] == "allow"
    assert auth.auth("passcode", username=username, passcode=codes[3])["result"] == "deny"


def test_hotp_token_with_look_ahead(auth, server, user):
    username = user[0]
    server.admin("hotp", "add", username, "--secret", "3132333435363738393031323334353637383930")
    # RFC 4226 vectors: counter 2 is 359152, counter 5 is 254676
    assert auth.auth("passcode", username=username, passcode="359152")["result"] == "allow"
    assert auth.auth("passcode", username=username, passcode="359152")["result"] == "deny"
    assert auth.auth("passcode", username=username, passcode="254676")["result"] == "allow"


def test_enroll_then_activate_then_enroll_status_succeeds(auth, server):
    import ssl
    import urllib.request

    enrolled = auth.enroll(username=f"enrolled{next(_counter)}", bypass_codes=1)
    assert enrolled["user_id"].startswith("DU") and len(enrolled["user_id"]) == 20
    assert auth.enroll_status(enrolled["user_id"], enrolled["activation_code"]) == "waiting"
    assert auth.enroll_status(enrolled["user_id"], "nope") == "invalid"
    context = ssl.create_default_context(cafile=server.ca_cert)
    request = urllib.request.Request(enrolled["activation_url"], method="POST", data=b"")
    with urllib.request.urlopen(request, context=context) as response:
        assert "/device/" in response.url
    assert auth.enroll_status(enrolled["user_id"], enrolled["activation_code"]) == "success"
    assert auth.preauth(username=enrolled["username"])["result"] == "auth"
    assert auth.auth("passcode", username=enrolled["username"],
                     passcode=enrolled["bypass_codes"][0])["result"] == "allow"


def test_auth_log_records_outcomes_without_secrets(server, app, user):
    auth = server.client(app["ikey"], app["skey"])
    username, totp, _ = user
    code = totp.now()
    auth.auth("passcode", username=username, passcode=code, ipaddr="192.0.2.44")
    entries = server.admin("log", "--user", username)["entries"]
    assert entries[-1]["result"] == "allow" and entries[-1]["ipaddr"] == "192.0.2.44"
    assert entries[-1]["factor"] == "passcode"
    everything = (server.data / "logs" / "auth.jsonl").read_text() + (server.data / "logs" / "admin.jsonl").read_text()
    assert code not in everything
    assert app["skey"] not in everything


def test_two_hundred_concurrent_auths_leave_the_database_consistent(server, app):
    # bulk setup through the admin API in-process: 100 CLI runs would only slow the test down
    from duomfa.mfaservice.admin import Admin

    users = [f"crowd{index}" for index in range(100)]
    admin = Admin(server.data)
    codes = {}
    for name in users:
        admin.add_user(name, totp=True, push=False, phone=None)
        codes[name] = admin.bypass_codes(name, 1)["bypass_codes"][0]
    admin.close()

    def attempt(name):
        client = server.client(app["ikey"], app["skey"])
        return name, client.auth("passcode", username=name, passcode=codes[name])["result"]

    with ThreadPoolExecutor(max_workers=200) as pool:
        results = list(pool.map(attempt, users + users))  # every code presented twice, at once
    by_user = {}
    for name, result in results:
        by_user.setdefault(name, []).append(result)
    assert all(sorted(outcomes) == ["allow", "deny"] for outcomes in by_user.values()), by_user
    db = sqlite3.connect(server.data / "mfa.sqlite3")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute(
        "SELECT count(*) FROM bypass_codes b JOIN users u USING (user_id) "
        "WHERE u.username LIKE 'crowd%' AND b.used_at IS NOT NULL").fetchone()[0] == 100
    assert db.execute("SELECT count(*) FROM users WHERE username LIKE 'crowd%'").fetchone()[0] == 100
    assert server.process.poll() is None


def test_phone_call_is_answered_like_a_push(auth, server):
    created = server.admin("user", "add", f"caller{next(_counter)}", "--phone", "+15555550111")
    username = created["username"]
    txid = auth.auth("phone", username=username, device="auto", async_txn=True)["txid"]
    first = auth.auth_status(txid)
    assert first["waiting"] and first["status"] == "calling" and "XXX-XXX-0111" in first["status_msg"]
    server.admin("push", "approve", username)
    while (status := auth.auth_status(txid))["waiting"]:
        pass
    assert status["success"]


def _threads_of(pid):
    with open(f"/proc/{pid}/status") as status:
        return int(next(line for line in status if line.startswith("Threads:")).split()[1])


@pytest.fixture
def patient_server(tmp_path):
    mfa = MfaServer(tmp_path / "mfa", "--push-timeout", "120").start()
    yield mfa
    mfa.stop()


def test_a_thousand_pending_pushes_hold_no_threads(patient_server):
    from duomfa.mfaservice.admin import Admin

    server = patient_server
    admin = Admin(server.data)
    app = admin.add_app("pushes")
    names = [f"pusher{index}" for index in range(1000)]
    for name in names:
        admin.add_user(name, totp=False, push=True, phone=None)
    admin.close()
    threads_before = _threads_of(server.process.pid)

    def push(name):
        client = server.client(app["ikey"], app["skey"])
        return client.auth("push", username=name, device="auto", async_txn=True)["txid"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        txids = list(pool.map(push, names))
    db = sqlite3.connect(server.data / "mfa.sqlite3")
    placeholders = ",".join("?" * len(txids))
    waiting = db.execute(f"SELECT count(*) FROM transactions WHERE result = 'waiting' AND txid IN ({placeholders})",
                         txids).fetchone()[0]
    assert _threads_of(server.process.pid) <= threads_before + 2
    # all of them still answer: the service is not stuck behind the pending ones
    assert server.client(app["ikey"], app["skey"]).check()["time"] > 0
    assert waiting == 1000
