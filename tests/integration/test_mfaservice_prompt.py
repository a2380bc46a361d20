"""Menu-driven logins, the way duo_unix (login_duo, pam_duo) drives Duo: preauth with `text_prompt=1` shows Duo's
text menu, the client maps the key the person types through `prompt.factors` and sends `/auth factor=prompt` with
`async=1`, then polls `/auth_status`. Requests go over real HTTPS exactly as duo_unix sends them — form body,
signature v2 with HMAC-SHA512, the date in `X-Duo-Date` and no `Date` header — and through duo_client."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import shlex
import shutil
import sqlite3
import ssl
import subprocess
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pyotp
import pytest

from support import MfaServer

PHONE = "+15555551234"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    mfa = MfaServer(tmp_path_factory.mktemp("mfa"), "--long-poll", "1", "--push-timeout", "20").start()
    yield mfa
    mfa.stop()


@pytest.fixture(scope="module")
def app(server):
    return server.admin("app", "add", "login_duo")


_counter = iter(range(10**6))


@pytest.fixture
def phone_user(server):
    """A user whose one phone takes pushes, calls and SMS and shows TOTP passcodes."""
    created = server.admin("user", "add", f"alice{next(_counter)}", "--push", "--phone", PHONE, "--totp")
    return created


class DuoUnix:
    """Requests shaped as duo_unix's lib/https.c sends them."""

    def __init__(self, server: MfaServer, app: dict[str, Any]):
        self.server = server
        self.ikey, self.skey = app["ikey"], app["skey"]

    def call(self, method: str, path: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
        quote = urllib.parse.quote
        query = "&".join(f"{quote(k, '~')}={quote(v, '~')}" for k, v in sorted(params.items()))
        canonical = "\n".join([date, method, "127.0.0.1", path, query])
        signature = hmac.new(self.skey.encode(), canonical.encode(), hashlib.sha512).hexdigest()
        headers = {
            "User-Agent": "duo_unix/2.2.0",
            "X-Duo-Date": date,
            "Authorization": "Basic " + base64.b64encode(f"{self.ikey}:{signature}".encode()).decode(),
        }
        context = ssl.create_default_context(cafile=self.server.ca_cert)
        connection = http.client.HTTPSConnection("127.0.0.1", self.server.port, context=context, timeout=30)
        try:
            if method == "GET":
                connection.request("GET", f"{path}?{query}", headers=headers)
            else:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                connection.request(method, path, body=query, headers=headers)
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def ok(self, method: str, path: str, params: dict[str, str]) -> Any:
        status, document = self.call(method, path, params)
        assert status == 200 and document["stat"] == "OK", (status, document)
        return document["response"]

    def preauth(self, username: str) -> dict[str, Any]:
        return self.ok("POST", "/auth/v2/preauth", {
            "username": username, "text_prompt": "1", "ipaddr": "10.1.2.3", "hostname": "bastion",
            "failmode": "closed", "client_supports_verified_push": "1"})

    def auth(self, username: str, prompt: str, asynchronous: bool = True) -> dict[str, Any]:
        return self.ok("POST", "/auth/v2/auth", {
            "username": username, "factor": "prompt", "prompt": prompt, "async": "1" if asynchronous else "0",
            "ipaddr": "10.1.2.3", "hostname": "bastion", "pushinfo": "Server+IP=10.0.0.1&Command=ls"})

    def auth_status(self, txid: str) -> dict[str, Any]:
        return self.ok("GET", "/auth/v2/auth_status", {"txid": txid})

    def poll(self, txid: str, polls: int = 20) -> dict[str, Any]:
        """What duo_unix does after an async /auth: at most 20 auth_status calls while the result is waiting."""
        for _ in range(polls):
            status = self.auth_status(txid)
            if status["result"] != "waiting":
                return status
        raise AssertionError(f"still waiting after {polls} polls")

    def login(self, username: str, typed: str) -> dict[str, Any]:
        """One interactive login: preauth, the typed key mapped through prompt.factors (or sent as typed), auth."""
        preauth = self.preauth(username)
        assert preauth["result"] == "auth", preauth
        choice = preauth["prompt"]["factors"].get(typed, typed)
        return self.auth(username, choice)


@pytest.fixture
def duo_unix(server, app):
    return DuoUnix(server, app)


def _menu(username: str, *lines: str) -> str:
    options = "".join(f" {number}. {line}\n" for number, line in enumerate(lines, start=1))
    return (f"Duo two-factor login for {username}\n\nEnter a passcode or select one of the following options:\n\n"
            f"{options}\nPasscode or option (1-{len(lines)}): ")


def test_preauth_with_text_prompt_shows_duos_menu_and_its_factors(duo_unix, phone_user):
    username = phone_user["username"]
    preauth = duo_unix.preauth(username)
    assert preauth["result"] == "auth" and preauth["status_msg"] == "Account is active"
    assert preauth["prompt"] == {
        "text": _menu(username, "Duo Push to XXX-XXX-1234", "Phone call to XXX-XXX-1234",
                      "SMS passcodes to XXX-XXX-1234"),
        "factors": {"1": "push1", "2": "voice1", "3": "smsrefresh1", "default": "push1"},
    }
    # Verified Push is not offered, whatever the client says it supports
    assert not {"txid", "verification_code", "expiration"} & preauth.keys()


def test_menu_numbers_each_device_and_names_one_without_a_number(server, duo_unix):
    username = f"multi{next(_counter)}"
    server.admin("user", "add", username, "--push")  # "Duo Mobile (duomfa)", no number
    from duomfa.mfaservice.admin import Admin

    admin = Admin(server.data)
    try:
        user = admin.store.require_user(username)
        admin.store.add_device(user.user_id, type="phone", name="Desk phone", number="+1 555 555 9876",
                               can_phone=True)
    finally:
        admin.close()
    server.admin("hotp", "add", username, "--secret", "3132333435363738393031323334353637383930")
    prompt = duo_unix.preauth(username)["prompt"]
    assert prompt["text"] == _menu(username, "Duo Push to Duo Mobile (duomfa)", "Phone call to XXX-XXX-9876")
    assert prompt["factors"] == {"1": "push1", "2": "voice2", "default": "push1"}


def test_preauth_text_prompt_for_a_user_to_enroll_names_the_portal(duo_unix):
    preauth = duo_unix.preauth(f"newcomer{next(_counter)}")
    url = preauth["enroll_portal_url"]
    assert preauth["result"] == "enroll"
    assert preauth["prompt"] == {"text": f"Please enroll at {url}"}
    assert url in preauth["status_msg"]


def test_menu_push_is_approved_and_auth_status_allows(server, duo_unix, phone_user):
    username = phone_user["username"]
    started = duo_unix.login(username, "1")
    assert set(started) == {"txid"}
    first = duo_unix.auth_status(started["txid"])
    assert (first["result"], first["status"]) == ("waiting", "pushed")
    assert server.admin("push", "approve", username)["txid"] == started["txid"]  # as if pressed on the device page
    assert duo_unix.poll(started["txid"]) == {
        "result": "allow", "status": "allow", "status_msg": "Success. Logging you in..."}


def test_menu_phone_call_is_answered_and_auth_status_allows(server, duo_unix, phone_user):
    username = phone_user["username"]
    txid = duo_unix.login(username, "2")["txid"]
    first = duo_unix.auth_status(txid)
    assert (first["result"], first["status"]) == ("waiting", "calling")
    assert "XXX-XXX-1234" in first["status_msg"]
    server.admin("push", "approve", username)  # the call is answered and confirmed on the device page
    assert duo_unix.poll(txid)["result"] == "allow"
    entry = server.admin("log", "--user", username)["entries"][-1]
    assert (entry["factor"], entry["result"], entry["txid"]) == ("phone", "allow", txid)


def test_menu_sms_sends_passcodes_and_auth_status_says_so(server, duo_unix, phone_user):
    username = phone_user["username"]
    txid = duo_unix.login(username, "3")["txid"]
    assert duo_unix.auth_status(txid) == {
        "result": "deny", "status": "sent", "status_msg": "New SMS passcodes sent."}
    db = sqlite3.connect(server.data / "mfa.sqlite3")
    codes = [row[0] for row in db.execute(
        "SELECT code FROM sms_codes WHERE device_id = ? ORDER BY rowid", (phone_user["devices"][0]["device"],))]
    assert len(codes) == 10
    # the next preauth says which code comes next, on the device and in the menu
    preauth = duo_unix.preauth(username)
    assert preauth["devices"][0]["sms_nextcode"] == codes[0][0]
    assert f"SMS passcodes to XXX-XXX-1234 (next code starts with: {codes[0][0]})" in preauth["prompt"]["text"]
    # one of them, typed at the prompt, logs in once
    assert duo_unix.poll(duo_unix.login(username, codes[0])["txid"])["result"] == "allow"
    assert duo_unix.poll(duo_unix.login(username, codes[0])["txid"])["result"] == "deny"


def test_typed_passcode_logs_in_once_through_async(server, duo_unix, phone_user):
    username = phone_user["username"]
    code = pyotp.parse_uri(phone_user["totp_uri"]).now()
    txid = duo_unix.login(username, code)["txid"]
    assert duo_unix.auth_status(txid) == {
        "result": "allow", "status": "allow", "status_msg": "Success. Logging you in..."}
    again = duo_unix.login(username, code)["txid"]
    assert duo_unix.auth_status(again) == {
        "result": "deny", "status": "deny", "status_msg": "Incorrect passcode. Please try again."}
    reasons = [e["reason"] for e in server.admin("log", "--user", username)["entries"][-2:]]
    assert reasons == ["totp passcode", "passcode already used"]


def test_bypass_code_typed_at_the_prompt_is_used_up_before_the_txid_is_answered(server, duo_unix, phone_user):
    username = phone_user["username"]
    code = server.admin("user", "bypass-codes", username, "--count", "1")["bypass_codes"][0]
    txid = duo_unix.auth(username, code)["txid"]
    # nobody has asked auth_status yet: the code is already spent, and the outcome is on the transaction, on disk
    db = sqlite3.connect(server.data / "mfa.sqlite3")
    assert db.execute("SELECT used_at IS NOT NULL FROM bypass_codes WHERE code = ?", (code,)).fetchone() == (1,)
    assert db.execute("SELECT result, status FROM transactions WHERE txid = ?", (txid,)).fetchone() == (
        "allow", "allow")
    assert duo_unix.auth_status(txid)["result"] == "allow"
    assert duo_unix.auth_status(txid)["result"] == "allow"  # asking again changes nothing
    assert duo_unix.auth_status(duo_unix.auth(username, code)["txid"])["result"] == "deny"


@pytest.mark.parametrize("status, expected", [
    ("bypass", ("allow", "bypass", "Allowing bypass user")),
    ("disabled", ("deny", "deny", "Your account is disabled.")),
])
def test_bypass_and_disabled_users_get_a_txid_and_their_decision(server, duo_unix, phone_user, status, expected):
    username = phone_user["username"]
    server.admin("user", "status", username, status)
    preauth = duo_unix.preauth(username)
    assert preauth["result"] == expected[0] and "prompt" not in preauth
    txid = duo_unix.auth(username, "push1")["txid"]
    answer = duo_unix.auth_status(txid)
    assert (answer["result"], answer["status"], answer["status_msg"]) == expected


def test_synchronous_menu_choice_answers_at_once(server, duo_unix, phone_user):
    username = phone_user["username"]
    assert duo_unix.auth(username, "sms1", asynchronous=False) == {
        "result": "deny", "status": "sent", "status_msg": "New SMS passcodes sent."}


@pytest.mark.parametrize("choice", ["phone1", "voice", "PUSH1"])
def test_other_spellings_of_a_factor_are_accepted(server, duo_unix, phone_user, choice):
    username = phone_user["username"]
    txid = duo_unix.auth(username, choice)["txid"]
    assert duo_unix.auth_status(txid)["result"] == "waiting"
    server.admin("push", "deny", username)
    assert duo_unix.poll(txid)["status"] == "deny"


def test_a_factor_for_a_device_the_user_lacks_is_duos_400(duo_unix, phone_user):
    status, document = duo_unix.call("POST", "/auth/v2/auth", {
        "username": phone_user["username"], "factor": "prompt", "prompt": "push2", "async": "1"})
    assert status == 400 and (document["code"], document["message_detail"]) == (40002, "prompt")
    status, document = duo_unix.call("POST", "/auth/v2/auth", {
        "username": phone_user["username"], "factor": "prompt", "async": "1"})
    assert status == 400 and (document["code"], document["message_detail"]) == (40001, "prompt")


@pytest.mark.parametrize("sig_version", [2, 5])
def test_duo_client_sends_text_prompt_and_factor_prompt_through_its_api_call(server, app, phone_user, sig_version):
    client = server.client(app["ikey"], app["skey"], sig_version=sig_version, digestmod=hashlib.sha512)
    username = phone_user["username"]
    # duo_client 5.7's preauth() has no text_prompt argument: json_api_call with the extra parameter is how
    preauth = client.json_api_call("POST", "/auth/v2/preauth", {"username": username, "text_prompt": "1"})
    assert preauth["prompt"]["factors"]["3"] == "smsrefresh1"
    started = client.json_api_call("POST", "/auth/v2/auth", {
        "username": username, "factor": "prompt", "prompt": preauth["prompt"]["factors"]["3"], "async": "1"})
    assert client.auth_status(started["txid"]) == {
        "waiting": False, "success": False, "status": "sent", "status_msg": "New SMS passcodes sent."}


# duo_unix itself: login_duo 2.2 or later (earlier versions speak Auth API v1, which is not served). No distribution
# packages one yet (Debian's login-duo is 1.11), so the test runs where DUOMFA_LOGIN_DUO names a build of it.
LOGIN_DUO = os.environ.get("DUOMFA_LOGIN_DUO")


def _login_duo(config: Path, username: str, typed: str) -> str:
    """login_duo at a terminal (it reads the menu choice from a tty; `script` gives it one), typing one line."""
    command = f"{shlex.quote(LOGIN_DUO or '')} -d -c {shlex.quote(str(config))} -f {shlex.quote(username)} echo IN"
    result = subprocess.run(["script", "-qec", command, "/dev/null"], input=typed + "\n", capture_output=True,
                            text=True, timeout=60)
    return result.stdout


@pytest.mark.skipif(not LOGIN_DUO or shutil.which("script") is None,
                    reason="set DUOMFA_LOGIN_DUO to a login_duo binary from duo_unix 2.2 or later")
def test_login_duo_logs_in_through_the_menu(server, app, phone_user, tmp_path):
    config = tmp_path / "login_duo.conf"
    config.write_text(f"[duo]\nikey = {app['ikey']}\nskey = {app['skey']}\nhost = 127.0.0.1:{server.port}\n"
                      f"cafile = {server.ca_cert}\nfailmode = secure\npushinfo = yes\n")
    config.chmod(0o600)
    username = phone_user["username"]
    sms = _login_duo(config, username, "3")
    assert _menu(username, "Duo Push to XXX-XXX-1234", "Phone call to XXX-XXX-1234",
                 "SMS passcodes to XXX-XXX-1234").rstrip() in sms  # (text mode turns the tty's \r\n into \n)
    assert "New SMS passcodes sent." in sms and "\nIN" not in sms
    code = pyotp.parse_uri(phone_user["totp_uri"]).now()
    assert "Success. Logging you in..." in _login_duo(config, username, code)
    assert "Incorrect passcode. Please try again." in _login_duo(config, username, code)
