"""FIPS mode without a FIPS provider: the start check refuses, RADIUS's MD5 is chosen once by name and must pass its
known-answer test, Duo's TLS and signatures are what FIPS mode asks, and the openssl.cnf enforces the provider.
Under a real FIPS provider: tests/integration/test_proxy_fips.py."""

from __future__ import annotations

import _hashlib
import hashlib
import importlib
import re
import ssl
from pathlib import Path

import pytest
import yaml

from duomfa import fips, radius
from duomfa.config import ConfigError
from duomfa.duo.client import DuoClient, sign_call, tls_context
from duomfa.radius import md5 as radius_md5
from duomfa.radius import packet

ROOT = Path(__file__).resolve().parents[2]
BUILTIN_MD5 = importlib.import_module("_md5").md5


@pytest.fixture(autouse=True)
def restore_bindings():
    """Each test may rebind RADIUS's MD5 and random source; the next one starts from what the process had."""
    md5, random_bytes = packet._new_md5, packet._random_bytes
    yield
    packet.bind_md5(md5)
    packet.bind_random_source(random_bytes)


# --- RADIUS's MD5: chosen once, by name, after a known-answer test ----------------------------------------------

def test_the_builtin_md5_is_bound_by_name_and_every_radius_digest_runs_on_it():
    assert radius_md5.select(radius_md5.BUILTIN).startswith("Python's built-in MD5")
    assert packet._new_md5 is BUILTIN_MD5  # one module-level binding: nothing is looked up per packet
    calls = []

    def counting(data: bytes):
        calls.append(len(data))
        return BUILTIN_MD5(data)

    packet.bind_md5(counting)
    secret, authenticator = b"s3cret", bytes(16)
    hidden = radius.hide_user_password(b"123456", secret, authenticator)
    request = radius.parse(radius.encode_request(radius.ACCESS_REQUEST, 1, authenticator,
                                                 [(radius.USER_PASSWORD, hidden)], secret))
    assert radius.verify_request_message_authenticator(request, secret)
    assert radius.pap_password(hidden, secret, authenticator) == b"123456"
    radius.encode_reply(radius.ACCESS_ACCEPT, request, secret, [])
    # hiding, the secret's two HMAC pads (made once, then copied), decrypting, the Response Authenticator
    assert calls == [22, 64, 64, 22, 44]


def test_openssl_md5_is_chosen_when_openssl_may_run_it_and_refused_by_name_when_not(monkeypatch):
    radius_md5.select(radius_md5.OPENSSL)
    assert packet._new_md5 is hashlib.md5 and hashlib.md5.__module__ == "_hashlib"

    def refused(*args, **kwargs):
        raise ValueError("[digital envelope routines] unsupported")

    refused.__module__ = "_hashlib"
    monkeypatch.setattr(hashlib, "md5", refused)
    with pytest.raises(radius_md5.Md5Unavailable, match="OpenSSL refuses MD5"):
        radius_md5.select(radius_md5.OPENSSL)
    assert packet._new_md5 is not refused


def test_an_md5_that_gives_wrong_answers_fails_the_self_test_and_is_not_bound(monkeypatch):
    radius_md5.select(radius_md5.BUILTIN)
    monkeypatch.setattr(radius_md5, "constructor", lambda name: hashlib.sha1)  # a digest, but not MD5
    with pytest.raises(radius_md5.Md5SelfTestFailed, match=r"MD5 of b'' \(RFC 1321\)"):
        radius_md5.select(radius_md5.OPENSSL)
    assert packet._new_md5 is BUILTIN_MD5  # the previous MD5 stays


def test_the_self_test_holds_the_rfc_2865_password_hiding_example(monkeypatch):
    radius_md5.select(radius_md5.BUILTIN)
    request = radius.parse(radius_md5.RFC2865_REQUEST)
    assert request.get(radius.USER_NAME) == b"nemo"
    assert radius.pap_password(request.get(radius.USER_PASSWORD), b"xyzzy5461", request.authenticator) == \
        b"arctangent"
    wrong = bytearray(radius_md5.RFC2865_REQUEST)
    wrong[-20] ^= 1  # one bit of the hidden password
    monkeypatch.setattr(radius_md5, "RFC2865_REQUEST", bytes(wrong))
    with pytest.raises(radius_md5.Md5SelfTestFailed, match="RFC 2865 §7.1"):
        radius_md5.self_test()


@pytest.mark.parametrize("md5", [hashlib.md5, BUILTIN_MD5], ids=["openssl", "builtin"])
def test_the_published_vectors_hold_for_both_implementations(md5):
    """The vectors themselves, checked against two MD5s and the stdlib's HMAC (a typo in one would show here)."""
    import hmac

    for data, digest in radius_md5.MD5_VECTORS:
        assert md5(data).hexdigest() == digest
    for key, data, digest in radius_md5.HMAC_MD5_VECTORS:
        assert hmac.new(key, data, md5).hexdigest() == digest


def test_request_authenticators_come_from_the_bound_random_source():
    assert radius_md5.select_random_source(radius_md5.OPENSSL_DRBG) == "openssl-drbg"
    assert packet._random_bytes is ssl.RAND_bytes
    radius_md5.select_random_source(radius_md5.KERNEL)
    packet.bind_random_source(lambda n: b"\x07" * n)
    assert radius.new_request_authenticator() == b"\x07" * 16
    with pytest.raises(ValueError, match="unknown random source"):
        radius_md5.select_random_source("dice")


# --- the start check --------------------------------------------------------------------------------------------

def test_without_fips_mode_the_proxy_runs_openssl_md5_and_the_kernel_s_random_bytes():
    setup = fips.prepare(False)
    assert (setup.fips_mode, setup.radius_md5, setup.random_source, setup.fips_provider) == \
        (False, "openssl", "kernel", None)
    assert packet._new_md5 is hashlib.md5


def test_without_fips_mode_an_openssl_that_refuses_md5_gets_the_builtin_one(monkeypatch):
    def refused(*args, **kwargs):
        raise ValueError("unsupported")

    refused.__module__ = "_hashlib"
    monkeypatch.setattr(hashlib, "md5", refused)
    assert fips.prepare(False).radius_md5 == "builtin"


@pytest.mark.skipif(_hashlib.get_fips_mode() == 1, reason="this Python runs OpenSSL in FIPS mode")
def test_fips_mode_without_a_fips_provider_refuses_to_start_saying_what_it_found_and_what_to_do():
    with pytest.raises(fips.FipsUnavailable) as refused:
        fips.prepare(True, "/etc/duomfa/authproxy.cfg:2")
    message = str(refused.value)
    assert isinstance(refused.value, ConfigError)  # the command line prints it as it prints a configuration error
    assert message.startswith("/etc/duomfa/authproxy.cfg:2: fips_mode = true, but OpenSSL (OpenSSL 3.")
    assert "_hashlib.get_fips_mode() is 0" in message and "OpenSSL computes MD5" in message
    assert "ChaCha20" in message
    for how in ("FIPS image", "OPENSSL_CONF", "OPENSSL_MODULES", "default_properties = fips=yes", "fips_mode = false"):
        assert how in message


def test_fips_mode_binds_the_builtin_md5_and_openssl_s_drbg_once_openssl_enforces_fips(monkeypatch):
    enforced = fips.FipsReport("OpenSSL 3.0.19", ("probes",), (), fips.Provider("OpenSSL FIPS Provider", "3.1.2",
                                                                                 "3.1.2", True))
    monkeypatch.setattr(fips, "probe", lambda: enforced)
    setup = fips.prepare(True)
    assert (setup.radius_md5, setup.random_source, setup.fips_provider) == \
        ("builtin", "openssl-drbg", "OpenSSL FIPS Provider 3.1.2")
    assert packet._new_md5 is BUILTIN_MD5 and packet._random_bytes is ssl.RAND_bytes


def test_a_failing_md5_self_test_stops_the_start(monkeypatch):
    monkeypatch.setattr(radius_md5, "constructor", lambda name: hashlib.sha1)
    with pytest.raises(fips.CryptoSelfTestFailed, match="RADIUS needs MD5 and cannot have it: RADIUS MD5 self-test"):
        fips.prepare(False)


def test_the_probe_names_what_it_found_here():
    report = fips.probe()
    assert "SHA-1 and SHA-512 come from OpenSSL" in report.found
    assert "HMAC-SHA-512 (Duo's signatures) runs in OpenSSL" in report.found
    assert "OpenSSL's DRBG gives random bytes" in report.found
    assert report.enforced is (_hashlib.get_fips_mode() == 1)


def test_a_process_that_is_not_a_fips_component_knows_when_fips_was_asked_for():
    assert fips.requested({"DUOMFA_FIPS_MODE": "True"}) == "DUOMFA_FIPS_MODE is true"
    assert fips.requested({"DUOMFA_FIPS_MODE": "false"}) == (None if not _hashlib.get_fips_mode() else
                                                            "OpenSSL runs in FIPS mode (OPENSSL_CONF)")


# --- Duo: TLS and signatures ------------------------------------------------------------------------------------

def test_tls_to_duo_in_fips_mode_offers_tls_1_2_and_up_with_ecdhe_and_aes_gcm_only():
    context = tls_context(None, fips_mode=True)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    tls12 = {c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12 == set(fips.FIPS_TLS12_CIPHERS.split(":"))
    assert all(c["protocol"] in ("TLSv1.2", "TLSv1.3") for c in context.get_ciphers())
    default = {c["name"] for c in tls_context(None).get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert default > tls12  # outside FIPS mode the default list stays as it was
    client = DuoClient("DIXXXXXXXXXXXXXXXXXX", "s" * 40, "api-xxxxxxxx.duosecurity.com", fips_mode=True)
    assert {c["name"] for c in client._ssl_context.get_ciphers() if c["protocol"] == "TLSv1.2"} == tls12


def test_duo_request_signing_runs_hmac_sha512_in_openssl(monkeypatch):
    """duo_client's sign() calls hmac.new with hashlib.sha512; both must be OpenSSL's, never Python's fallback."""
    assert hashlib.sha512 is _hashlib.openssl_sha512 and hashlib.sha1 is _hashlib.openssl_sha1
    arguments = dict(ikey="DIXXXXXXXXXXXXXXXXXX", skey="s" * 40, host="api-xxxxxxxx.duosecurity.com",
                     date="Tue, 05 Dec 2026 10:00:00 -0000")
    expected = sign_call("POST", "/auth/v2/preauth", {"username": "alice"}, **arguments)
    used = []
    openssl_hmac = _hashlib.hmac_new

    def counting(key, msg=b"", digestmod=None):
        used.append(digestmod)
        return openssl_hmac(key, msg, digestmod=digestmod)

    monkeypatch.setattr(_hashlib, "hmac_new", counting)
    assert sign_call("POST", "/auth/v2/preauth", {"username": "alice"}, **arguments) == expected
    assert used == [_hashlib.openssl_sha512]


# --- the FIPS image and its build -------------------------------------------------------------------------------

def test_the_openssl_cnf_activates_fips_and_base_only_with_fips_as_the_default_property():
    text = fips.openssl_config("/usr/local/lib/duomfa-fips/fipsmodule.cnf")
    assert ".include /usr/local/lib/duomfa-fips/fipsmodule.cnf" in text
    assert re.search(r"\[provider_sect\]\nfips = fips_sect\nbase = base_sect\n", text)
    assert "default = " not in text  # the default provider is not loaded: nothing outside the boundary
    assert re.search(r"\[algorithm_sect\]\ndefault_properties = fips=yes\n", text)


def test_the_image_the_buildspec_and_the_check_name_one_validated_provider_version():
    dockerfile = (ROOT / "Dockerfile.fips").read_text()
    versions = re.findall(r"^ARG OPENSSL_FIPS_VERSION=(\S+)$", dockerfile, re.M)
    assert versions == [fips.VALIDATED_PROVIDER_VERSION] * 2  # the build stage and the check
    (sha256,) = re.findall(r"^ARG OPENSSL_FIPS_SHA256=(\S+)$", dockerfile, re.M)
    assert re.fullmatch(r"[0-9a-f]{64}", sha256)
    assert 'sha256sum --check --strict' in dockerfile and "fipsinstall" in dockerfile
    assert "-self_test_onload" in dockerfile  # every container runs the self-tests when it loads the provider
    assert 'python -m duomfa.fips --provider-version "${OPENSSL_FIPS_VERSION}"' in dockerfile
    for variable in ("OPENSSL_CONF=", "OPENSSL_MODULES=", "DUOMFA_FIPS_MODE=true"):
        assert variable in dockerfile
    assert dockerfile.rstrip().splitlines()[-1] == "USER 10001:10001"
    buildspec = yaml.safe_load((ROOT / "buildspec.yml").read_text())
    assert buildspec["env"]["variables"]["FIPS_PROVIDER_VERSION"] == fips.VALIDATED_PROVIDER_VERSION
    certificate = fips.VALIDATED_PROVIDER_CERTIFICATE.split()[-1]  # "#4985"
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    assert certificate in dockerfile and f"CMVP **{certificate}**" in deploy
    assert f"OpenSSL FIPS Provider {fips.VALIDATED_PROVIDER_VERSION}" in deploy


def test_the_buildspec_checks_the_fips_image_before_anything_is_pushed(tmp_path):
    """The build phase up to the first push, run by bash with a docker that only records its arguments."""
    import subprocess

    buildspec = yaml.safe_load((ROOT / "buildspec.yml").read_text())
    commands = buildspec["phases"]["build"]["commands"]
    before_push = commands[:next(i for i, c in enumerate(commands) if c.startswith("docker push"))]
    docker = tmp_path / "docker"
    docker.write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/calls\n')
    docker.chmod(0o755)
    for fips_image, expected in (("Yes", 3), ("No", 1), (None, 1)):
        (tmp_path / "calls").unlink(missing_ok=True)
        variables = {**buildspec["env"]["variables"], "REPOSITORY_URI": "123456789012.dkr.ecr.us-gov-west-1."
                     "amazonaws.com/duomfa-proxy", **({"FIPS_IMAGE": fips_image} if fips_image else {})}
        subprocess.run(["bash", "-ec", "\n".join(before_push)], check=True,
                       env={"PATH": f"{tmp_path}:/usr/bin:/bin", **variables})
        calls = (tmp_path / "calls").read_text().splitlines()
        assert len(calls) == expected, calls
    assert calls[0].startswith("build --pull --tag ")
    (tmp_path / "calls").unlink()
    subprocess.run(["bash", "-ec", "\n".join(before_push)], check=True,
                   env={"PATH": f"{tmp_path}:/usr/bin:/bin", **variables, "FIPS_IMAGE": "Yes"})
    build, fips_build, check = (tmp_path / "calls").read_text().splitlines()
    uri = variables["REPOSITORY_URI"]
    assert fips_build == f"build --file Dockerfile.fips --build-arg PROXY_IMAGE={uri}:scan --tag {uri}:scan ."
    assert check == (f"run --rm --entrypoint python {uri}:scan -m duomfa.fips --provider-version "
                     f"{fips.VALIDATED_PROVIDER_VERSION}")


def test_every_function_that_runs_from_the_image_checks_fips_before_anything_else():
    import ast
    import importlib
    import inspect
    import textwrap

    from duomfa.infra.image_function import HANDLERS

    for path in HANDLERS.values():
        module, name = path.rsplit(".", 1)
        source = textwrap.dedent(inspect.getsource(getattr(importlib.import_module(module), name)))
        function = ast.parse(source).body[0]
        assert isinstance(function, ast.FunctionDef)
        body = function.body
        first = body[1] if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) else body[0]
        assert ast.unparse(first) == "check_crypto(os.environ)", path


def test_a_function_outside_the_fips_image_checks_nothing_and_says_nothing(capsys):
    from duomfa.control import runtime

    runtime.check_crypto({})
    runtime.check_crypto({"DUOMFA_FIPS_MODE": "false"})
    assert capsys.readouterr().out == ""
