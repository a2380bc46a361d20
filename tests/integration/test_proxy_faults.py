"""The fail-safe rule end to end: FreeRADIUS's radclient → `duomfa proxy` (UDP) → a Duo that misbehaves on demand
(HTTPS), for a representative set of the rule table's cells; and the attack the rule closes — a push left pending
while the MFA service restarts — against the real local MFA service."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from fake_duo import PASSCODE, Certificates, FaultyDuo
from support import MfaServer, ProxyProcess, duomfa_json, free_port, proxy_config, radclient

SECRET = "faults-secret"
FAST_DUO = "long_poll_grace_seconds = 1\npush_wait_seconds = 20\nmax_pushes_per_user_per_minute = 1000\n"
# Long enough that a loaded CI machine never turns a healthy preauth into a timeout (which fails open by the rule)
API_TIMEOUT = 4


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    certificates = Certificates.make(root / "tls")
    fake = FaultyDuo(certificates).start_in_thread()
    app = {"ikey": "DI" + "F" * 18, "skey": "k" * 40}
    proxies = {}
    for target, api_host in (("fake", fake.address), ("nothing", f"127.0.0.1:{free_port()}")):
        for failmode in ("safe", "secure"):
            config = proxy_config(root / f"{target}-{failmode}.cfg", app, secret=SECRET, api_host=api_host,
                                  ca_cert=certificates.ca_file, api_timeout=API_TIMEOUT,
                                  extra=f"failmode = {failmode}\n{FAST_DUO}")
            proxies[target, failmode] = ProxyProcess(config).start()
    yield fake, proxies, app
    for proxy in proxies.values():
        proxy.stop()
    fake.stop_thread()


def login(proxy, factor=PASSCODE, username="alice"):
    return radclient(proxy.port, SECRET, f'User-Name = "{username}"\nUser-Password = "{factor}"\n', timeout=15,
                     retries=1)


def answer(result) -> str:
    for code in ("Access-Accept", "Access-Reject"):
        if f"Received {code}" in result.stdout:
            return code
    raise AssertionError(f"no answer:\n{result.stdout}\n{result.stderr}")


@pytest.mark.parametrize("factor, phase, fault, failmode, expected", [
    # before Duo asked for a factor, an unreachable Duo follows failmode …
    ("123456", "preauth", "500", "safe", "Access-Accept"),
    ("123456", "preauth", "500", "secure", "Access-Reject"),
    ("push", "preauth", "timeout", "safe", "Access-Accept"),
    # … an answer that is not Duo's never does
    ("123456", "preauth", "302", "safe", "Access-Reject"),
    ("push", "preauth", "200_html", "safe", "Access-Reject"),
    ("123456", "preauth", "untrusted_cert", "safe", "Access-Reject"),
    # after it asked, nothing lets anyone in
    ("123456", "auth", "500", "safe", "Access-Reject"),
    ("123456", "auth", "reset", "safe", "Access-Reject"),
    ("push", "auth", "200_json", "safe", "Access-Reject"),
    ("push", "auth_status", "timeout", "safe", "Access-Reject"),
    ("push", "auth_status", "502_html", "safe", "Access-Reject"),
    ("push", "auth_status", "refused", "safe", "Access-Reject"),
    ("push", "auth_status", "unknown_result", "safe", "Access-Reject"),
    ("push", "auth", "401", "safe", "Access-Reject"),
])
def test_rule_table_end_to_end(setup, factor, phase, fault, failmode, expected):
    fake, proxies, _ = setup
    proxy = proxies["fake", failmode]
    fake.reset_from_another_thread({phase: fault})
    opened_before = proxy.metric("duomfa_fail_open_total")
    seen_before = len(proxy.records())
    got = answer(login(proxy, factor))
    assert got == expected, f"the proxy logged: {proxy.records()[seen_before:]}"
    assert proxy.metric("duomfa_fail_open_total") - opened_before == (1 if expected == "Access-Accept" else 0)
    if phase != "preauth" and fault != "401":
        faulted = [r for r in proxy.records("duo_fault_after_preauth") if r["endpoint"] == phase]
        assert faulted and faulted[-1]["level"] == "ERROR" and faulted[-1]["username"] == "alice"


@pytest.mark.parametrize("failmode, expected", [("safe", "Access-Accept"), ("secure", "Access-Reject")])
def test_nothing_listening_at_preauth_follows_failmode(setup, failmode, expected):
    _, proxies, _ = setup
    proxy = proxies["nothing", failmode]
    assert answer(login(proxy)) == expected
    if failmode == "safe":
        warnings = [r for r in proxy.records("fail_open") if r["level"] == "WARNING"]
        assert warnings and warnings[-1]["username"] == "alice"


def test_readyz_says_whether_duo_answers(setup):
    _, proxies, _ = setup
    for failmode, status in (("safe", 200), ("secure", 503)):
        proxy = proxies["nothing", failmode]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{proxy.http_port}/readyz", timeout=5) as response:
                code, body = response.status, json.load(response)
        except urllib.error.HTTPError as error:
            code, body = error.code, json.load(error)
        assert code == status and body["duo_reachable"] is False and body["listening"] is True
        with urllib.request.urlopen(f"http://127.0.0.1:{proxy.http_port}/healthz", timeout=5) as response:
            assert response.status == 200


def test_no_log_holds_the_shared_secret_or_skey(setup):
    _, proxies, app = setup
    for proxy in proxies.values():
        text = "".join(proxy.output)
        assert SECRET not in text and app["skey"] not in text and PASSCODE not in text


def test_a_pending_push_when_the_mfa_service_restarts_is_rejected(tmp_path):
    """The reported attack: the push is never approved; the MFA service goes away while it is pending."""
    server = MfaServer(tmp_path / "mfa", "--push-timeout", "60").start()
    app = duomfa_json("mfa", "app", "add", "restart", "--data", str(server.data))
    server.admin("user", "add", "alice", "--push")
    config = proxy_config(tmp_path / "proxy.cfg", app, secret=SECRET, api_timeout=API_TIMEOUT,
                          extra="failmode = safe\n" + FAST_DUO)
    proxy = ProxyProcess(config).start()
    try:
        outcome = {}
        attempt = threading.Thread(target=lambda: outcome.update(result=login(proxy, "push")))
        attempt.start()
        give_up = time.monotonic() + 15
        while proxy.metric("duomfa_pending_pushes") < 1:
            assert time.monotonic() < give_up, "the push never went out:\n" + "".join(proxy.output[-20:])
            time.sleep(0.1)
        server.stop()  # the long-poll for the pending push breaks; nobody approved anything
        attempt.join(30)
        assert answer(outcome["result"]) == "Access-Reject"
        assert proxy.metric("duomfa_fail_open_total") == 0
        [faulted] = proxy.records("duo_fault_after_preauth")
        assert faulted["endpoint"] == "auth_status" and faulted["fault"] in ("connect", "truncated"), faulted
    finally:
        proxy.stop()
        server.stop()
