"""`duomfa doctor`'s local checks against the local MFA service, a real proxy process and real sockets."""

from __future__ import annotations

import io
import json
import socket

import pytest

from duomfa.doctor import run_doctor
from duomfa.mfaservice.datadir import open_data_dir
from duomfa.mfaservice.tls import ensure_ca
from support import MfaServer, ProxyProcess, duomfa, free_port, proxy_config

SECRET = "doctor-shared-secret"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    mfa = MfaServer(tmp_path_factory.mktemp("mfa")).start()
    yield mfa
    mfa.stop()


@pytest.fixture(scope="module")
def app(server):
    return server.admin("app", "add", "doctor")


def doctor(config, *, probe=False, environ=None):
    """(exit code, {check name: check}, the whole output) of `duomfa doctor -c CONFIG --json`."""
    out = io.StringIO()
    code = run_doctor(config=str(config), stack=None, region=None, probe=probe, as_json=True, environ=environ or {},
                      out=out)
    document = json.loads(out.getvalue())
    assert set(document) == {"checks", "failed", "warnings"}
    return code, {check["name"]: check for check in document["checks"]}, out.getvalue()


def statuses(checks):
    return {name: check["status"] for name, check in checks.items()}


def test_a_working_configuration_passes_every_check_and_shows_no_secret(tmp_path, app):
    config = proxy_config(tmp_path / "authproxy.cfg", app, secret=SECRET)
    result = duomfa("doctor", "-c", str(config), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:-1]] == [
        ["ok", "config"], ["ok", "port"], ["ok", "http-port"], ["ok", "secrets"], ["ok", "duo-ping"], ["ok", "clock"],
        ["ok", "duo-keys"]]
    assert lines[-1] == "7 check(s): 0 failed, 0 warning(s)"
    assert app["ikey"] in result.stdout
    assert app["skey"] not in result.stdout and SECRET not in result.stdout


def test_a_wrong_skey_fails_on_check_without_showing_it(tmp_path, app):
    wrong_skey = "w" * 40
    code, checks, output = doctor(proxy_config(tmp_path / "authproxy.cfg", dict(app, skey=wrong_skey)))
    assert code == 1
    assert statuses(checks) == {"config": "ok", "port": "ok", "http-port": "ok", "secrets": "ok", "duo-ping": "ok",
                                "clock": "ok", "duo-keys": "fail"}
    assert "401" in checks["duo-keys"]["detail"]
    assert checks["duo-keys"]["fix"].startswith("ikey/skey do not match api_host")
    assert wrong_skey not in output


def test_a_certificate_from_an_untrusted_ca_fails_as_tls(tmp_path, app):
    other = open_data_dir(tmp_path / "other")
    ensure_ca(other)  # a CA of its own, which did not sign the service's certificate
    code, checks, _ = doctor(proxy_config(tmp_path / "authproxy.cfg", app, ca_cert=str(other.ca_cert)))
    assert code == 1
    assert checks["duo-ping"]["status"] == "fail"
    assert checks["duo-ping"]["detail"].startswith(f"{app['api_host']}: tls_verify: ")
    assert checks["duo-ping"]["fix"].startswith("check ca_certs: the certificate is not trusted")
    assert "duo-keys" not in checks and "clock" not in checks  # nothing more to learn from a Duo we cannot reach


def test_an_unresolvable_api_host_from_the_environment_fails_as_dns(tmp_path, app):
    config = proxy_config(tmp_path / "authproxy.cfg", app)
    code, checks, _ = doctor(config, environ={"DUOMFA_API_HOST": "duomfa-doctor.invalid"})  # env overrides the file
    assert code == 1
    assert checks["duo-ping"]["detail"].startswith("duomfa-doctor.invalid: dns: ")
    assert checks["duo-ping"]["fix"].startswith("check api_host / DNS")


def test_nothing_answering_on_api_host_fails_as_connect(tmp_path, app):
    config = proxy_config(tmp_path / "authproxy.cfg", app, api_host=f"127.0.0.1:{free_port()}")
    code, checks, _ = doctor(config)
    assert code == 1
    assert ": connect: " in checks["duo-ping"]["detail"]
    assert checks["duo-ping"]["fix"].startswith("check outbound HTTPS 443 / http_proxy")


def test_a_configuration_error_is_one_failed_check_with_its_message(tmp_path, app):
    config = proxy_config(tmp_path / "authproxy.cfg", app, extra="radius_ip_9 = 10.0.0.300\nradius_secret_9 = x")
    code, checks, _ = doctor(config)
    assert code == 1
    assert list(checks) == ["config"]
    assert checks["config"]["status"] == "fail"
    assert "radius_ip_9" in checks["config"]["detail"] and "10.0.0.300" in checks["config"]["detail"]


def test_a_port_already_bound_is_a_warning_not_a_failure(tmp_path, app):
    config = proxy_config(tmp_path / "authproxy.cfg", app)
    port = int(next(line.split("=")[1] for line in config.read_text().splitlines() if line.startswith("port =")))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", port))
        code, checks, _ = doctor(config)
    assert code == 0
    assert checks["port"]["status"] == "warn"
    assert checks["port"]["detail"] == f"UDP 127.0.0.1:{port} (port) is in use — is the proxy already running?"


def test_a_running_proxy_answers_the_probe(tmp_path, app):
    config = proxy_config(tmp_path / "authproxy.cfg", app, secret=SECRET)
    proxy = ProxyProcess(config).start()
    try:
        result = duomfa("doctor", "-c", str(config), "--probe", "--json", check=False)
    finally:
        proxy.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    checks = {check["name"]: check for check in document["checks"]}
    assert checks["port"]["status"] == "warn"  # the proxy holds it
    assert checks["http-port"]["status"] == "warn" and "(http_port) is in use" in checks["http-port"]["detail"]
    assert checks["probe"]["status"] == "ok"
    assert "answered a Status-Server signed with radius_secret_1" in checks["probe"]["detail"]
    assert (document["failed"], document["warnings"]) == (0, 2)
    assert SECRET not in result.stdout


def test_the_probe_says_when_nothing_listens(tmp_path, app):
    code, checks, _ = doctor(proxy_config(tmp_path / "authproxy.cfg", app), probe=True)
    assert code == 1
    assert checks["probe"]["status"] == "fail"
    assert checks["probe"]["detail"].startswith("nothing listens on UDP 127.0.0.1:")


def test_the_probe_says_when_this_host_is_not_a_configured_client(tmp_path, app):
    config = proxy_config(tmp_path / "authproxy.cfg", app, clients="10.9.9.9")
    code, checks, _ = doctor(config, probe=True)
    assert code == 0
    assert checks["probe"]["status"] == "warn"
    assert checks["probe"]["detail"].startswith("127.0.0.1 is not a configured client")
    assert "radius_ip_N = 127.0.0.1" in checks["probe"]["fix"]


def test_a_proxy_holding_another_secret_does_not_answer_the_probe(tmp_path, app):
    config = proxy_config(tmp_path / "running.cfg", app, secret=SECRET)
    other = tmp_path / "other.cfg"
    other.write_text(config.read_text().replace(SECRET, "another-shared-secret"))
    proxy = ProxyProcess(config).start()
    try:
        code, checks, output = doctor(other, probe=True)
    finally:
        proxy.stop()
    assert code == 1
    assert checks["probe"]["status"] == "fail"
    assert checks["probe"]["detail"].startswith("no answer from UDP 127.0.0.1:")
    assert "another-shared-secret" not in output and SECRET not in output


def test_a_secrets_file_reports_its_versions(tmp_path, app):
    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_text(json.dumps({"AWSCURRENT": {"radius_secret": "current-secret-0123"},
                                        "AWSPREVIOUS": {"radius_secret": "previous-secret-0123"}}))
    config = proxy_config(tmp_path / "authproxy.cfg", app, secret=None,
                          extra=f"secrets_source = file:{secrets_file}\nradius_clients = 127.0.0.1")
    code, checks, output = doctor(config)
    assert code == 0
    assert checks["secrets"]["status"] == "ok"
    assert "2 secret version(s) (AWSCURRENT, AWSPREVIOUS)" in checks["secrets"]["detail"]
    assert "current-secret-0123" not in output and "previous-secret-0123" not in output
    secrets_file.write_text("not json")
    code, checks, _ = doctor(config, probe=True)
    assert code == 1
    assert checks["secrets"]["status"] == "fail"
    assert "is not JSON" in checks["secrets"]["detail"]
    assert checks["duo-keys"]["status"] == "ok"  # the keys are in the configuration too
    assert checks["probe"]["detail"].startswith("not probed: the shared secret comes from the secrets source")
