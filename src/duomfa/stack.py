"""`duomfa up`: the whole local stack in one process on 127.0.0.1 — the MFA service, the RADIUS proxy in front of
it, a demo integration and a demo user — so a RADIUS client can log in with a second factor at once."""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import string
import sys
from pathlib import Path
from typing import TextIO

import platformdirs

from duomfa.config import load_settings
from duomfa.mfaservice import otp
from duomfa.mfaservice.admin import Admin
from duomfa.mfaservice.server import start_service
from duomfa.mfaservice.service import Policy
from duomfa.proxy.server import start_proxy
from duomfa.signals import wait_for_stop_signal

DEMO_APP = "duomfa-demo"
DEMO_USER = "demo"
EXEMPT_USER = "svc-exempt"
# what AWS Directory Service accepts in a shared secret, minus characters that need quoting in a shell
SECRET_ALPHABET = string.ascii_letters + string.digits + "-_.+"


def default_stack_dir() -> Path:
    return platformdirs.user_data_path("duomfa") / "stack"


def _shared_secret(root: Path) -> str:
    path = root / "radius-secret"
    if path.exists():
        return path.read_text().strip()
    secret = "".join(secrets.choice(SECRET_ALPHABET) for _ in range(24))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret


def write_proxy_config(root: Path, *, ikey: str, skey: str, api_host: str, ca_cert: Path, secret: str, port: int,
                       http_port: int) -> Path:
    """The proxy's configuration, in the authproxy.cfg form an admin would write; rewritten at each start."""
    path = root / "proxy.cfg"
    text = "\n".join([
        "; written by `duomfa up` at each start; `duomfa proxy -c` reads the same file",
        "[main]",
        "debug = false",
        "",
        "[radius_server_duo_only]",
        f"ikey = {ikey}",
        f"skey = {skey}",
        f"api_host = {api_host}",
        f"ca_certs = {ca_cert}",
        "radius_ip_1 = 127.0.0.1",
        f"radius_secret_1 = {secret}",
        "interface = 127.0.0.1",
        f"port = {port}",
        "http_interface = 127.0.0.1",
        f"http_port = {http_port}",
        "; the local MFA service is the only second factor here: never let anyone in without it",
        "failmode = secure",
        f"exempt_username_1 = {EXEMPT_USER}",
        "",
    ])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


async def run_stack(args: argparse.Namespace, policy: Policy, out: TextIO = sys.stdout) -> None:
    root = Path(args.data) if args.data else default_stack_dir()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    mfa_dir = root / "mfaservice"
    mfa = await start_service(mfa_dir, "127.0.0.1", args.mfa_port, policy, echo=None, log_requests=args.log_requests)
    proxy = None
    try:
        admin = Admin(mfa_dir)
        try:
            integration = admin.store.integration_by_name(DEMO_APP)
            if integration is None:
                admin.add_app(DEMO_APP)
                integration = admin.store.integration_by_name(DEMO_APP)
            if admin.store.user_by_name(DEMO_USER) is None:
                admin.add_user(DEMO_USER, totp=True, push=True, phone=None)
            user = admin.store.require_user(DEMO_USER)
            device = admin.store.devices_of(user.user_id)[0]
            device_page = admin.device_view(device)["device_page"]
        finally:
            admin.close()
        assert integration is not None
        secret = _shared_secret(root)
        config = write_proxy_config(root, ikey=integration.ikey, skey=integration.skey, api_host=mfa.api_host,
                                    ca_cert=mfa.data_dir.ca_cert, secret=secret, port=args.port,
                                    http_port=args.http_port)
        proxy = await start_proxy(load_settings(config, {}))
        quoted = shlex.quote(secret)
        print("\n".join([
            f"duomfa up: data in {root}",
            f"  RADIUS proxy   127.0.0.1:{proxy.port} (UDP), shared secret {secret}",
            f"                 health http://127.0.0.1:{proxy.http_port}/readyz, config {config}",
            f"  MFA service    https://{mfa.api_host} (CA {mfa.data_dir.ca_cert})",
            f"  demo user      {DEMO_USER}: approve pushes at {device_page}",
            f"                 TOTP for an authenticator app: {otp.totp_uri(device.totp_secret or '', DEMO_USER)}",
            f"  exempt user    {EXEMPT_USER} (accepted without Duo)",
            "  try:",
            f"    radtest {DEMO_USER} push 127.0.0.1:{proxy.port} 0 {quoted}",
            f"    duomfa radtest {DEMO_USER} push --port {proxy.port} --secret {quoted}",
            "  Ctrl-C stops the stack.",
        ]), file=out, flush=True)
        signum = await wait_for_stop_signal()
        print(f"duomfa up: stopping ({signum.name})", file=out, flush=True)
    finally:
        if proxy is not None:
            await proxy.close()
        await mfa.close()
