"""`async=1` on /auth gives a txid for every factor and every user state: what /auth decides at once (a passcode,
SMS passcodes sent, a bypass, disabled, locked-out or unknown-but-allowed user) is stored on the transaction before
the txid goes out and reported by /auth_status — with duo_client, and with the proxy's own DuoClient."""

from __future__ import annotations

import hashlib
import sqlite3
import time

import pyotp
import pytest

from duomfa.duo import AuthResult, DuoClient
from support import MfaServer

LOCKOUT = 3

# duo_client 5.7's default (JSON body) and the form-encoded v2 that older clients send
SIGNATURES = {"v5": (5, hashlib.sha512), "v2-sha512": (2, hashlib.sha512)}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    mfa = MfaServer(tmp_path_factory.mktemp("mfa"), "--long-poll", "1", "--lockout-threshold", str(LOCKOUT)).start()
    yield mfa
    mfa.stop()


@pytest.fixture(scope="module")
def app(server):
    return server.admin("app", "add", "async")


@pytest.fixture(params=list(SIGNATURES))
def auth(request, server, app):
    sig_version, digestmod = SIGNATURES[request.param]
    return server.client(app["ikey"], app["skey"], sig_version=sig_version, digestmod=digestmod)


_counter = iter(range(10**6))


@pytest.fixture
def user(server):
    created = server.admin("user", "add", f"asyncuser{next(_counter)}", "--totp", "--push", "--phone", "+15555550142")
    return created["username"], pyotp.parse_uri(created["totp_uri"])


def started(response):
    assert set(response) == {"txid"}, response  # nothing decided shows before auth_status
    return response["txid"]


def test_passcode_gets_a_txid_and_auth_status_reports_it_once_used(auth, user):
    username, totp = user
    code = totp.now()
    txid = started(auth.auth("passcode", username=username, passcode=code, async_txn=True))
    assert auth.auth_status(txid) == {
        "waiting": False, "success": True, "status": "allow", "status_msg": "Success. Logging you in..."}
    replay = started(auth.auth("passcode", username=username, passcode=code, async_txn=True))
    assert auth.auth_status(replay)["status_msg"] == "Incorrect passcode. Please try again."


def test_sms_gets_a_txid_and_auth_status_says_passcodes_were_sent(auth, server, user):
    username = user[0]
    txid = started(auth.auth("sms", username=username, device="auto", async_txn=True))
    assert auth.auth_status(txid) == {
        "waiting": False, "success": False, "status": "sent", "status_msg": "New SMS passcodes sent."}
    db = sqlite3.connect(server.data / "mfa.sqlite3")
    assert db.execute("SELECT count(*) FROM sms_codes s JOIN devices d USING (device_id) JOIN users u USING (user_id) "
                      "WHERE u.username = ?", (username,)).fetchone() == (10,)


@pytest.mark.parametrize("factor", ["push", "passcode"])
def test_bypass_user_gets_a_txid_and_is_allowed(auth, server, user, factor):
    username = user[0]
    server.admin("user", "status", username, "bypass")
    extra = {"passcode": "123456"} if factor == "passcode" else {"device": "auto"}
    txid = started(auth.auth(factor, username=username, async_txn=True, **extra))
    assert auth.auth_status(txid) == {
        "waiting": False, "success": True, "status": "bypass", "status_msg": "Allowing bypass user"}


def test_disabled_user_gets_a_txid_and_is_denied(auth, server, user):
    username, totp = user
    server.admin("user", "status", username, "disabled")
    txid = started(auth.auth("passcode", username=username, passcode=totp.now(), async_txn=True))
    assert auth.auth_status(txid) == {
        "waiting": False, "success": False, "status": "deny", "status_msg": "Your account is disabled."}


def test_locked_out_user_gets_a_txid_and_is_denied(auth, user):
    username, totp = user
    for _ in range(LOCKOUT):
        wrong = started(auth.auth("passcode", username=username, passcode="000000x", async_txn=True))
        assert auth.auth_status(wrong)["status"] == "deny"
    txid = started(auth.auth("passcode", username=username, passcode=totp.now(), async_txn=True))
    status = auth.auth_status(txid)
    assert (status["success"], status["status"]) == (False, "locked_out")


def test_parameter_errors_are_still_errors_not_transactions(auth, user):
    with pytest.raises(RuntimeError, match="400 Missing required request parameters"):
        auth.json_api_call("POST", "/auth/v2/auth", {"username": user[0], "factor": "passcode", "async": "1"})
    with pytest.raises(RuntimeError, match="400 Invalid request parameters"):
        auth.auth("passcode", username="nobody-at-all", passcode="123456", async_txn=True)


def test_unknown_parameters_are_ignored(auth, user):
    username, totp = user
    response = auth.json_api_call("POST", "/auth/v2/auth", {
        "username": username, "factor": "passcode", "passcode": totp.now(), "async": "1", "failmode": "closed",
        "hostname": "bastion", "client_supports_verified_push": "1", "txid": "not-one-of-ours", "made_up": "x"})
    assert auth.auth_status(started(response))["success"]


def test_unknown_user_let_through_by_policy_gets_a_txid(tmp_path):
    server = MfaServer(tmp_path / "mfa", "--new-user-policy", "allow").start()
    try:
        app = server.admin("app", "add", "open")
        auth = server.client(app["ikey"], app["skey"])
        txid = started(auth.auth("push", username="stranger", device="auto", async_txn=True))
        assert auth.auth_status(txid) == {
            "waiting": False, "success": True, "status": "allow", "status_msg": "Allowing unknown user"}
        db = sqlite3.connect(server.data / "mfa.sqlite3")
        assert db.execute("SELECT user_id FROM transactions WHERE txid = ?", (txid,)).fetchone() == (None,)
    finally:
        server.stop()


def test_an_async_passcode_decision_survives_a_crash_right_after_the_txid(tmp_path):
    server = MfaServer(tmp_path / "mfa").start()
    app = server.admin("app", "add", "crash")
    username = server.admin("user", "add", "crashy", "--totp")["username"]
    code = server.admin("user", "bypass-codes", username, "--count", "1")["bypass_codes"][0]
    txid = started(server.client(app["ikey"], app["skey"]).auth(
        "passcode", username=username, passcode=code, async_txn=True))
    server.process.kill()  # no clean shutdown: only what was committed before the answer is there
    server.process.wait(10)
    server.process = None
    restarted = MfaServer(server.data).start()
    try:
        auth = restarted.client(app["ikey"], app["skey"])
        assert auth.auth_status(txid)["status"] == "allow"
        again = started(auth.auth("passcode", username=username, passcode=code, async_txn=True))
        assert auth.auth_status(again)["status"] == "deny"
    finally:
        restarted.stop()


# the proxy's client: auth_and_wait goes through async /auth and then auth_status

@pytest.fixture
async def duo(app):
    async with DuoClient(app["ikey"], app["skey"], app["api_host"], ca_certs=app["ca_cert"]) as client:
        yield client


async def test_duo_client_auth_and_wait_allows_a_bypass_user_through_its_txid(duo, server, user):
    username = user[0]
    server.admin("user", "status", username, "bypass")
    started_at = time.monotonic()
    result = await duo.auth_and_wait("push", username, ipaddr="192.0.2.9", deadline=time.monotonic() + 10)
    assert (result.result, result.status, result.status_msg) == ("allow", "bypass", "Allowing bypass user")
    assert result.txid is not None  # answered by auth_status, not by /auth itself
    assert time.monotonic() - started_at < 5
    entry = server.admin("log", "--user", username)["entries"][-1]
    assert (entry["result"], entry["status"], entry["txid"]) == ("allow", "bypass", result.txid)


async def test_duo_client_auth_and_wait_denies_a_disabled_user(duo, server, user):
    username = user[0]
    server.admin("user", "status", username, "disabled")
    result = await duo.auth_and_wait("push", username, deadline=time.monotonic() + 10)
    assert result == AuthResult("deny", "deny", "Your account is disabled.", result.txid)
    assert result.txid is not None
