"""What the container runs, without Docker: the Dockerfiles pass hadolint, and the built wheel, installed into a
fresh virtualenv as the image installs it (without cryptography, which only the MFA service needs), starts `duomfa
proxy` from the environment the task definition sets — secrets from Secrets Manager (moto's server here), Duo at the
local MFA service — and answers Status-Server, a login and /healthz; and the Lambda runtime interface client in it
finds every control-plane handler the CDK app names."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from duomfa import radius
from duomfa.infra.control_plane import HANDLERS, LAMBDA_ENTRYPOINT
from support import MfaServer, free_port, radclient

ROOT = Path(__file__).resolve().parents[2]
A = radius.constants


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.fips"])
def test_dockerfiles_pass_hadolint(dockerfile):
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, str(ROOT / dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# the wheels the image's build stage deletes: cryptography bundles an OpenSSL of its own, outside any FIPS provider
LEFT_OUT = ("cryptography", "cffi", "pycparser")


def test_the_image_leaves_out_exactly_the_wheels_the_tests_leave_out():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    (removed,) = re.findall(r"&& rm (/wheels/\S+(?: /wheels/\S+)*)", dockerfile)
    assert removed.split() == [f"/wheels/{name}-*.whl" for name in LEFT_OUT]
    assert "pip install --no-cache-dir --no-index --no-deps /wheels/*.whl" in dockerfile


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel the image's first stage builds, installed the way its second stage installs it: with its
    dependencies, less the ones the image leaves out."""
    root = tmp_path_factory.mktemp("image")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(root / "wheels"),
                    str(ROOT)], check=True, capture_output=True)
    [wheel] = (root / "wheels").glob("duomfa-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    python = str(root / "venv" / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    f"{wheel}[aws,lambda]"], check=True, capture_output=True)
    subprocess.run([python, "-m", "pip", "uninstall", "--quiet", "--yes", *LEFT_OUT], check=True,
                   capture_output=True)
    missing = subprocess.run([python, "-c", "import cryptography"], capture_output=True, text=True)
    assert "No module named 'cryptography'" in missing.stderr
    return root / "venv" / "bin" / "duomfa"


def test_lambda_runtime_interface_client_finds_every_control_plane_handler(installed):
    python = installed.parent / "python"
    assert LAMBDA_ENTRYPOINT[1:] == ["-m", "awslambdaric"]
    check = ("import sys\nfrom awslambdaric.bootstrap import _get_handler\n"
             "for path in sys.argv[1:]:\n    assert callable(_get_handler(path)), path\n")
    result = subprocess.run([str(python), "-c", check, *HANDLERS.values()], capture_output=True, text=True,
                            env={"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1"})
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def secrets_manager():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def status_server(port: int, secret: bytes) -> int | None:
    authenticator = radius.new_request_authenticator()
    packet = radius.encode_request(A.STATUS_SERVER, 9, authenticator, [], secret)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(packet, ("127.0.0.1", port))
        try:
            return radius.verify_reply(sock.recvfrom(4096)[0], authenticator, secret).code
        except TimeoutError:
            return None


def test_entrypoint_runs_from_the_task_definitions_environment(installed, secrets_manager, tmp_path):
    mfa = MfaServer(tmp_path / "mfa").start()
    try:
        app = mfa.admin("app", "add", "image")
        mfa.admin("user", "add", "bypassed", "--totp")
        mfa.admin("user", "status", "bypassed", "bypass")
        aws = {"AWS_ENDPOINT_URL": secrets_manager, "AWS_DEFAULT_REGION": "us-gov-west-1",
               "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        client = boto3.client("secretsmanager", endpoint_url=secrets_manager, region_name="us-gov-west-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        arn = client.create_secret(Name="duomfa-image-test", SecretString=json.dumps({
            "ikey": app["ikey"], "skey": app["skey"], "api_host": app["api_host"].replace("8443", str(mfa.port)),
            "radius_secret": "image-shared-secret"}))["ARN"]
        port, http_port = free_port(socket.SOCK_DGRAM), free_port()
        # what the task definition sets (see duomfa.infra's proxy service), with local addresses
        environment = {
            "DUOMFA_SECRETS_SOURCE": f"aws-secretsmanager:{arn}", "DUOMFA_RADIUS_CLIENTS": "127.0.0.1",
            "DUOMFA_PORT": str(port), "DUOMFA_HTTP_PORT": str(http_port), "DUOMFA_FAILMODE": "secure",
            "DUOMFA_INTERFACE": "127.0.0.1", "DUOMFA_CA_CERTS": mfa.ca_cert,
            "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
        }
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **aws, **environment}
        proxy = subprocess.Popen([str(installed), "proxy"], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        try:
            first = proxy.stdout.readline()
            assert '"event":"listening"' in first, first + proxy.stdout.read()
            assert status_server(port, b"image-shared-secret") == A.ACCESS_ACCEPT
            assert status_server(port, b"another-secret") is None
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=5) as response:
                assert response.status == 200 and json.load(response)["status"] == "ok"
            login = radclient(port, "image-shared-secret",
                              'User-Name = "bypassed"\nUser-Password = "push"\nMessage-Authenticator = 0x00\n')
            assert "Received Access-Accept" in login.stdout, login.stdout + login.stderr
        finally:
            proxy.terminate()
            output = proxy.communicate(timeout=15)[0]
        assert "image-shared-secret" not in output and app["skey"] not in output
    finally:
        mfa.stop()
