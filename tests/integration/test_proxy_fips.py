"""The proxy with fips_mode = true under a real OpenSSL FIPS provider (built once by tests/fips_provider.py) against
the local MFA service, which is not a FIPS component and runs outside FIPS mode: TOTP and push logins, an exempt
user, Status-Server, two shared-secret versions and Message-Authenticator all work; TLS to Duo and Duo's signatures
stay inside the provider. Without the provider, fips_mode = true stops the start and says why.

These tests are skipped, with the reason printed, only when the provider cannot be built here (no apt, no network);
the first run builds it (about half a minute), later runs take it from the cache.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import warnings

import pyotp
import pytest

from duomfa import radius
from duomfa.radius.exchange import access_request, status_server
from duomfa.radius_udp import REPLY, exchange
from fips_provider import FipsProvider, ProviderUnavailable, provider
from support import MfaServer, ProxyProcess, free_port, radclient

CURRENT, PENDING = "fips-current-secret", "fips-pending-secret"
# the provider's build may take minutes on its first run: the per-test limit applies to the tests, not the fixture
pytestmark = pytest.mark.timeout(120, func_only=True)


@pytest.fixture(scope="module")
def fips_provider() -> FipsProvider:
    try:
        return provider()
    except ProviderUnavailable as exc:
        reason = f"no OpenSSL FIPS provider could be built here: {exc}"
        warnings.warn(reason, stacklevel=1)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def mfa(tmp_path_factory):
    """The MFA service, told that FIPS was asked for: it says it is not a FIPS component, and runs."""
    saved = os.environ.get("DUOMFA_FIPS_MODE")
    os.environ["DUOMFA_FIPS_MODE"] = "true"
    try:
        server = MfaServer(tmp_path_factory.mktemp("fips") / "mfa", "--push-timeout", "20").start()
    finally:
        if saved is None:
            del os.environ["DUOMFA_FIPS_MODE"]
        else:
            os.environ["DUOMFA_FIPS_MODE"] = saved
    yield server
    server.stop()


def fips_config(path, mfa, app, secrets_file, *, fips_mode: str = "true"):
    path.write_text("\n".join([
        "[main]", f"fips_mode = {fips_mode}", "",
        "[radius_server_duo_only]", f"ca_certs = {mfa.ca_cert}", f"secrets_source = file:{secrets_file}",
        "radius_clients = 127.0.0.1", "interface = 127.0.0.1", f"port = {free_port(socket.SOCK_DGRAM)}",
        "http_interface = 127.0.0.1", f"http_port = {free_port()}", "api_timeout = 5", "failmode = secure",
        "require_message_authenticator = yes", "exempt_username_1 = svc-exempt", "",
    ]))
    return path


@pytest.fixture(scope="module")
def stack(fips_provider, mfa, tmp_path_factory):
    root = tmp_path_factory.mktemp("fips-proxy")
    app = mfa.admin("app", "add", "fips")
    keys = {"ikey": app["ikey"], "skey": app["skey"], "api_host": app["api_host"]}
    secrets_file = root / "secrets.json"
    secrets_file.write_text(json.dumps({"AWSCURRENT": {**keys, "radius_secret": CURRENT},
                                        "AWSPENDING": {**keys, "radius_secret": PENDING}}))
    proxy = ProxyProcess(fips_config(root / "proxy.cfg", mfa, app, secrets_file), env=fips_provider.environ()).start()
    yield mfa, proxy, app
    output = proxy.stop()
    assert CURRENT not in output and PENDING not in output and app["skey"] not in output


def login(proxy, username: str, password: str, secret: str = CURRENT, timeout: float = 3.0):
    """A PAP login as the test's own (non-FIPS, OpenSSL-MD5) RADIUS client sends it, its reply checked for a
    Response Authenticator and a Message-Authenticator made with `secret`."""
    request = access_request(username, password, secret.encode(), require_message_authenticator=True)
    return exchange(request, "127.0.0.1", proxy.port, timeout=timeout, attempts=1)


def test_the_proxy_starts_in_fips_mode_and_says_so(stack, fips_provider):
    mfa, proxy, _ = stack
    (listening,) = proxy.records("listening")
    assert listening["fips_mode"] is True
    assert listening["fips_provider"] == f"OpenSSL FIPS Provider {fips_provider.version}"
    assert (listening["radius_md5"], listening["random_source"]) == ("builtin", "openssl-drbg")
    assert proxy.metric("duomfa_fips_mode") == 1
    assert "not a FIPS component (DUOMFA_FIPS_MODE is true)" in "".join(mfa.output)


def test_a_totp_passcode_logs_in(stack):
    mfa, proxy, _ = stack
    user = mfa.admin("user", "add", "fips-totp", "--totp")
    result = login(proxy, "fips-totp", pyotp.parse_uri(user["totp_uri"]).now())
    assert result.outcome == REPLY and result.reply.code == radius.ACCESS_ACCEPT
    assert login(proxy, "fips-totp", "000000").reply.code == radius.ACCESS_REJECT


def test_a_push_logs_in_once_approved(stack):
    mfa, proxy, _ = stack
    mfa.admin("user", "add", "fips-push", "--push")

    def approve():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                mfa.admin("push", "approve", "fips-push")
                return
            except AssertionError:  # no push pending yet
                time.sleep(0.3)

    person = threading.Thread(target=approve)
    person.start()
    result = login(proxy, "fips-push", "push", timeout=15)
    person.join()
    assert result.outcome == REPLY and result.reply.code == radius.ACCESS_ACCEPT


def test_an_exempt_user_and_status_server_are_answered(stack):
    _, proxy, _ = stack
    assert login(proxy, "svc-exempt", "push").reply.code == radius.ACCESS_ACCEPT
    probe = exchange(status_server(CURRENT.encode(), "fips-test"), "127.0.0.1", proxy.port, attempts=1)
    assert probe.outcome == REPLY and probe.reply.code == radius.ACCESS_ACCEPT


def test_both_secret_versions_are_accepted_each_reply_signed_with_its_own(stack):
    _, proxy, _ = stack
    for secret in (CURRENT, PENDING):
        assert login(proxy, "svc-exempt", "push", secret=secret).reply.code == radius.ACCESS_ACCEPT
    assert login(proxy, "svc-exempt", "push", secret="not-a-version", timeout=1).outcome != REPLY
    labels = {record["secret_version"].split(":")[0] for record in proxy.records("auth")}
    assert {"AWSCURRENT", "AWSPENDING"} <= labels


def test_freeradius_s_radclient_checks_the_message_authenticator_of_the_reply(stack):
    """A third MD5 (FreeRADIUS's) agrees with the proxy's built-in one; a wrong Message-Authenticator is dropped."""
    _, proxy, _ = stack
    answered = radclient(proxy.port, CURRENT, 'User-Name = "svc-exempt"\nUser-Password = "push"\n'
                                              "Message-Authenticator = 0x00\n")
    assert "Received Access-Accept" in answered.stdout, answered.stdout + answered.stderr
    assert "Message-Authenticator" in answered.stdout
    forged = bytearray(access_request("svc-exempt", "push", CURRENT.encode()).data)
    forged[22] ^= 0xFF  # inside the Message-Authenticator, the request's first attribute
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1)
        sock.sendto(bytes(forged), ("127.0.0.1", proxy.port))
        with pytest.raises(TimeoutError):
            sock.recvfrom(4096)


def test_the_fips_image_s_check_passes_here_and_names_the_provider(fips_provider):
    checked = subprocess.run([sys.executable, "-m", "duomfa.fips"], capture_output=True, text=True, timeout=60,
                             env={**os.environ, **fips_provider.environ()})
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["fips_enforced"] and report["provider"]["version"] == fips_provider.version
    wrong = subprocess.run([sys.executable, "-m", "duomfa.fips", "--provider-version", "0.0.1"], capture_output=True,
                           text=True, timeout=60, env={**os.environ, **fips_provider.environ()})
    assert wrong.returncode == 1 and f"reports version {fips_provider.version}, not 0.0.1" in wrong.stderr


INSIDE_THE_PROVIDER = """
import _hashlib, hashlib, json, ssl
from duomfa.duo.client import sign_call, tls_context
from duomfa.radius import packet
from duomfa.radius.exchange import status_server
probe = status_server(b"rotation-check-secret", "rotation")  # what the control plane's rotation check sends
used = []
openssl_hmac = _hashlib.hmac_new
_hashlib.hmac_new = lambda key, msg=b"", digestmod=None: used.append(digestmod) or openssl_hmac(key, msg, digestmod)
sign_call("POST", "/auth/v2/auth", {"username": "u", "factor": "push"}, ikey="DIXXXXXXXXXXXXXXXXXX", skey="s" * 40,
          host="api-xxxxxxxx.duofederal.com", date="Tue, 05 Dec 2026 10:00:00 -0000")
print(json.dumps({"fips": _hashlib.get_fips_mode(), "hmac": [d.__name__ for d in used],
                  "sha512_openssl": hashlib.sha512 is _hashlib.openssl_sha512,
                  "ciphers": [c["name"] for c in tls_context(None, fips_mode=True).get_ciphers()],
                  "radius_md5": packet._new_md5.__module__, "drbg": packet._random_bytes is ssl.RAND_bytes,
                  "probe_signed": packet.verify_request_message_authenticator(packet.parse(probe.data),
                                                                              b"rotation-check-secret")}))
"""


def test_duo_signatures_tls_and_random_numbers_run_inside_the_provider_in_any_process(fips_provider):
    """Also in a process that never runs the proxy's start (a control-plane Lambda): RADIUS's MD5 is the built-in one
    and Request Authenticators come from the DRBG as soon as the RADIUS core is imported."""
    result = subprocess.run([sys.executable, "-c", INSIDE_THE_PROVIDER], capture_output=True, text=True, timeout=60,
                            env={**os.environ, **fips_provider.environ()})
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["fips"] == 1 and found["hmac"] == ["openssl_sha512"] and found["sha512_openssl"]
    assert found["ciphers"] and all("GCM" in name and ("ECDHE" in name or name.startswith("TLS_AES"))
                                    for name in found["ciphers"])
    assert (found["radius_md5"], found["drbg"], found["probe_signed"]) == ("_md5", True, True)


def test_fips_mode_false_under_the_provider_runs_radius_md5_outside_it(fips_provider, mfa, tmp_path):
    """OpenSSL refuses MD5 here, so even without fips_mode the proxy binds the built-in one, by name."""
    app = mfa.admin("app", "add", "fips-off")
    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_text(json.dumps({"ikey": app["ikey"], "skey": app["skey"], "api_host": app["api_host"],
                                        "radius_secret": CURRENT}))
    proxy = ProxyProcess(fips_config(tmp_path / "proxy.cfg", mfa, app, secrets_file, fips_mode="false"),
                         env=fips_provider.environ()).start()
    try:
        (listening,) = proxy.records("listening")
        assert (listening["fips_mode"], listening["radius_md5"]) == (False, "builtin")
        assert proxy.metric("duomfa_fips_mode") == 0
        assert login(proxy, "svc-exempt", "push").reply.code == radius.ACCESS_ACCEPT
    finally:
        proxy.stop()


def doctor_lines(config, env: dict[str, str]) -> tuple[int, list[list[str]], str]:
    clean = {key: value for key, value in os.environ.items()
             if not key.startswith(("DUOMFA_", "OPENSSL_CONF", "OPENSSL_MODULES"))}
    result = subprocess.run([sys.executable, "-m", "duomfa", "doctor", "-c", str(config)], capture_output=True,
                            text=True, timeout=60, env={**clean, **env})
    lines = result.stdout.splitlines()
    return result.returncode, [line.split()[:2] for line in lines[:-1] if line[:1] != " "], result.stdout


def test_doctor_runs_the_fips_start_check_and_pings_duo_with_fips_tls(fips_provider, mfa, tmp_path):
    app = mfa.admin("app", "add", "fips-doctor")
    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_text(json.dumps({"ikey": app["ikey"], "skey": app["skey"], "api_host": app["api_host"],
                                        "radius_secret": CURRENT}))
    config = fips_config(tmp_path / "proxy.cfg", mfa, app, secrets_file)
    code, lines, output = doctor_lines(config, fips_provider.environ())
    assert code == 0, output
    assert ["ok", "fips"] in lines and ["ok", "duo-ping"] in lines and ["ok", "duo-keys"] in lines
    assert f"OpenSSL FIPS Provider {fips_provider.version}" in output
    code, lines, output = doctor_lines(config, {})  # the same file where OpenSSL has no FIPS provider
    assert code == 1 and ["fail", "fips"] in lines and "does not run with a FIPS provider enforced" in output
    assert "OPENSSL_CONF" in output  # the fix says how to run with one


# a control-plane function from the image, called as Lambda calls it (its AWS client is never reached on Create)
CONTROL_PLANE_HANDLER = """
import json
from duomfa.control import directory
print(json.dumps({"answer": directory.custom_resource_handler(
    {"RequestType": "Create", "ResourceProperties": {"DirectoryId": "d-1234567890"}}, None,
    client=lambda service: None)}))
"""


def control_plane_handler(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items()
             if not key.startswith(("DUOMFA_", "OPENSSL_CONF", "OPENSSL_MODULES"))}
    return subprocess.run([sys.executable, "-c", CONTROL_PLANE_HANDLER], capture_output=True, text=True, timeout=60,
                          env={**clean, **env})


def test_a_control_plane_function_in_the_fips_image_checks_the_provider_first_and_says_so(fips_provider):
    result = control_plane_handler({"DUOMFA_FIPS_MODE": "true", **fips_provider.environ()})
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    crypto = lines[0]
    assert crypto["event"] == "crypto" and crypto["fips_mode"] is True and crypto["radius_md5"] == "builtin"
    assert crypto["fips_provider"] == f"OpenSSL FIPS Provider {fips_provider.version}"
    assert lines[-1] == {"answer": {"PhysicalResourceId": "duomfa-radius-d-1234567890"}}


# --- without the provider: no FIPS provider build needed ----------------------------------------------------------

def test_a_control_plane_function_asked_for_fips_without_the_provider_stops_before_anything_else():
    result = control_plane_handler({"DUOMFA_FIPS_MODE": "true"})
    assert result.returncode == 1
    assert "FipsUnavailable: DUOMFA_FIPS_MODE: fips_mode = true, but OpenSSL" in result.stderr
    assert "disable_radius_on_delete" not in result.stdout and "answer" not in result.stdout
    plain = control_plane_handler({})  # without the flag: no check, no crypto line
    assert plain.returncode == 0 and '"crypto"' not in plain.stdout and '"answer"' in plain.stdout


@pytest.mark.parametrize("where", ["file", "environment"])
def test_fips_mode_without_a_fips_provider_stops_the_start_and_says_how_to_run_with_one(tmp_path, where):
    config = tmp_path / "authproxy.cfg"
    config.write_text("[main]\n" + ("fips_mode = true\n" if where == "file" else "") + "\n"
                      "[radius_server_duo_only]\nikey = DIXXXXXXXXXXXXXXXXXX\nskey = " + "s" * 40 + "\n"
                      "api_host = api-xxxxxxxx.duofederal.com\nradius_ip_1 = 127.0.0.1\nradius_secret_1 = x\n"
                      f"port = {free_port(socket.SOCK_DGRAM)}\ninterface = 127.0.0.1\n")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DUOMFA_", "OPENSSL_CONF", "OPENSSL_MODULES"))}
    if where == "environment":
        env["DUOMFA_FIPS_MODE"] = "true"
    result = subprocess.run([sys.executable, "-m", "duomfa", "proxy", "-c", str(config)], capture_output=True,
                            text=True, timeout=60, env=env)
    assert result.returncode == 1
    origin = f"{config}:2" if where == "file" else "environment variable DUOMFA_FIPS_MODE"
    assert result.stderr.startswith(f"duomfa: error: {origin}: fips_mode = true, but OpenSSL (OpenSSL 3."), \
        result.stderr
    for what in ("does not run with a FIPS provider enforced", "_hashlib.get_fips_mode() is 0", "FIPS image",
                 "OPENSSL_CONF", "OPENSSL_MODULES", "default_properties = fips=yes"):
        assert what in result.stderr
    (refused,) = [json.loads(line) for line in result.stdout.splitlines() if '"crypto_refused"' in line]
    assert refused["level"] == "ERROR" and refused["fips_mode"] is True
    assert '"listening"' not in result.stdout
