"""FreeRADIUS's radclient logs in through the proxy to the local MFA service, as AWS Directory Service would."""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.parse
import urllib.request

import pyotp
import pytest

from support import MfaServer, ProxyProcess, proxy_config, radclient

SECRET = "radclient-secret-1"
PASSCODES_USED: list[str] = []


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("stack")
    mfa = MfaServer(root / "mfa", "--push-timeout", "20").start()
    app = mfa.admin("app", "add", "radius")
    config = proxy_config(root / "proxy.cfg", app, secret=SECRET,
                          extra="exempt_username_1 = svc-exempt\nfailmode = secure")
    proxy = ProxyProcess(config).start()
    yield mfa, proxy, app
    logs = proxy.stop() + mfa.stop() + (mfa.data / "logs" / "auth.jsonl").read_text()
    # the logs of the whole run: no shared secret, no skey, no passcode
    leaked = [word for word in [SECRET, app["skey"], *PASSCODES_USED] if word in logs]
    assert not leaked, f"secrets in the logs: {len(leaked)}"


def login(proxy, username, password, secret=SECRET, timeout=3, retries=1):
    if password.isdigit():
        PASSCODES_USED.append(password)
    return radclient(proxy.port, secret, f'User-Name = "{username}"\nUser-Password = "{password}"\n'
                     'Calling-Station-Id = "198.51.100.7"\n', timeout=timeout, retries=retries)


def answer_on_device_page(mfa, device_page, decision):
    """What a person does: open the device page, wait for the request, press the button."""
    context = ssl.create_default_context(cafile=mfa.ca_cert)
    token = urllib.parse.urlparse(device_page).path.rsplit("/", 1)[1]
    base = f"https://127.0.0.1:{mfa.port}/device/{token}"
    deadline = time.time() + 15
    while time.time() < deadline:
        with urllib.request.urlopen(base + "/state.json", context=context) as response:
            pending = json.load(response)["pending"]
        if pending:
            body = urllib.parse.urlencode({"txid": pending[0]["txid"], "decision": decision}).encode()
            request = urllib.request.Request(base + "/answer", data=body, headers={"Accept": "application/json"})
            with urllib.request.urlopen(request, context=context) as response:
                assert json.load(response)["settled"]
            return pending[0]
        time.sleep(0.2)
    raise AssertionError("no pending request appeared on the device page")


def test_totp_passcode_is_accepted_and_a_wrong_one_rejected(stack):
    mfa, proxy, _ = stack
    user = mfa.admin("user", "add", "totp-user", "--totp")
    result = login(proxy, "totp-user", pyotp.parse_uri(user["totp_uri"]).now())
    assert "Received Access-Accept" in result.stdout, result.stdout + result.stderr
    result = login(proxy, "totp-user", "000000")
    assert "Received Access-Reject" in result.stdout
    assert "Incorrect passcode" in result.stdout


@pytest.mark.parametrize("decision, expected", [("approve", "Access-Accept"), ("deny", "Access-Reject")])
def test_push_answered_on_the_device_page(stack, decision, expected):
    mfa, proxy, _ = stack
    user = mfa.admin("user", "add", f"pusher-{decision}", "--push")
    answered = {}
    person = threading.Thread(target=lambda: answered.update(
        answer_on_device_page(mfa, user["devices"][0]["device_page"], decision)))
    person.start()
    result = login(proxy, f"pusher-{decision}", "push", timeout=10, retries=2)
    person.join()
    assert f"Received {expected}" in result.stdout, result.stdout + result.stderr
    assert answered["ipaddr"] == "198.51.100.7"  # client_ip_attr reached Duo
    # Directory Service-style retries of one login gave one push, not several
    pushes = [e for e in mfa.admin("log", "--user", f"pusher-{decision}")["entries"] if e["factor"] == "push"]
    assert len(pushes) == 1


def test_bypass_status_user_is_accepted_and_disabled_user_rejected(stack):
    mfa, proxy, _ = stack
    mfa.admin("user", "add", "bypassed", "--totp")
    mfa.admin("user", "status", "bypassed", "bypass")
    assert "Received Access-Accept" in login(proxy, "bypassed", "push").stdout
    mfa.admin("user", "add", "gone", "--totp")
    mfa.admin("user", "status", "gone", "disabled")
    result = login(proxy, "gone", "push")
    assert "Received Access-Reject" in result.stdout and "disabled" in result.stdout


def test_exempt_user_is_accepted_without_asking_duo(stack):
    mfa, proxy, _ = stack
    before = mfa.admin("log")["entries"]
    result = login(proxy, "svc-exempt", "push")
    assert "Received Access-Accept" in result.stdout
    time.sleep(0.3)
    assert mfa.admin("log")["entries"] == before
    [record] = [r for r in proxy.records("auth") if r["username"] == "svc-exempt"]
    assert record["reason"] == "exempt user"


def test_wrong_shared_secret_gets_no_reply(stack):
    _, proxy, _ = stack
    dropped = proxy.metric("duomfa_radius_drops_total", 'reason="bad_secret"')
    result = login(proxy, "svc-exempt", "push", secret="not-the-secret", timeout=1, retries=1)
    assert "Received" not in result.stdout
    assert "No reply from server" in result.stdout + result.stderr
    assert proxy.metric("duomfa_radius_drops_total", 'reason="bad_secret"') >= dropped + 1
    # a person sees why at once: one WARNING naming the client and the likely cause, never the secret
    deadline = time.time() + 5
    while not (notices := [r for r in proxy.records("drop_notice") if r["reason"] == "bad_secret"]):
        assert time.time() < deadline, "no drop_notice for the wrong shared secret"
        time.sleep(0.1)
    notice = notices[0]
    assert notice["level"] == "WARNING" and notice["client"] == "127.0.0.1" and notice["first"] is True
    assert "shared secret differs from the proxy's" in notice["cause"]
    assert "not-the-secret" not in json.dumps(notices)


def test_status_server_is_answered(stack):
    _, proxy, _ = stack
    result = radclient(proxy.port, SECRET, "Message-Authenticator = 0x00\n", command="status")
    assert "Received Access-Accept" in result.stdout, result.stdout + result.stderr
