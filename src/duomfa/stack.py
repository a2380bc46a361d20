"""`duomfa up`: the whole local stack in one process on 127.0.0.1 — the MFA service, the RADIUS proxy in front of
it, a demo integration and a demo user — so a RADIUS client can log in with a second factor at once."""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from duomfa.config import load_settings
from duomfa.mfaservice import otp
from duomfa.mfaservice.admin import Admin
from duomfa.mfaservice.datadir import (
    MARKER_NAME,
    STACK_SERVICE_DIR,
    DataDirError,
    default_stack_dir,
    earlier_default_notice,
    write_private,
)
from duomfa.mfaservice.server import RunningService, start_service
from duomfa.mfaservice.service import Policy
from duomfa.proxy.server import RunningProxy, start_proxy
from duomfa.secret_document import SHARED_SECRET_ALPHABET, SHARED_SECRET_LENGTH
from duomfa.signals import wait_for_stop_signal

DEMO_APP = "duomfa-demo"
DEMO_USER = "demo"
EXEMPT_USER = "svc-exempt"
NEXT_USERS = ("alice", "bob", "carol", "dave", "erin")  # the banner's `mfa user add` names the first one not taken
SECRET_FILE = "radius-secret"
# a busy port is named by the option of `duomfa up` that chose it, not by proxy.cfg, which up rewrites at each start
PORT_OPTIONS = {"port": "--port", "http_port": "--http-port"}

Notify = Callable[[str], None]


def new_shared_secret(generator: random.Random) -> str:
    return "".join(generator.choice(SHARED_SECRET_ALPHABET) for _ in range(SHARED_SECRET_LENGTH))


def shared_secret_problem(secret: str) -> str | None:
    """Why a shared secret cannot be printed in a command that works as pasted; None when it can."""
    if not secret:
        return "is empty"
    if secret.startswith("-"):
        return "starts with '-' (radtest and duomfa radtest would read it as an option)"
    if not set(secret) <= set(SHARED_SECRET_ALPHABET):
        return "holds characters that a shell, radclient or authproxy.cfg treats specially"
    return None


def _shared_secret(root: Path, generator: random.Random, notify: Notify) -> str:
    """The stack's shared secret: kept from one start to the next, replaced (with a notice) when it is unusable."""
    path = root / SECRET_FILE
    if path.exists():
        secret = path.read_text(encoding="utf-8", errors="replace").strip()
        problem = shared_secret_problem(secret)
        if problem is None:
            return secret
        notify(f"the shared secret in {path} {problem}: it is replaced by a new one, printed below (a RADIUS client "
               "set up with the old one needs the new one)")
    secret = new_shared_secret(generator)
    write_private(path, (secret + "\n").encode("utf-8"))
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


def stack_root(data: str | Path | None) -> Path:
    """The stack's directory for --data (absolute, so the commands printed with it work from anywhere)."""
    if data is None:
        return default_stack_dir()
    root = Path(data).absolute()
    if (root / MARKER_NAME).exists():  # the MFA service's own directory, not one that holds it
        instead = (f"pass {shlex.quote(str(root.parent))}, which holds it" if root.name == STACK_SERVICE_DIR
                   else f"pass a new directory (the stack keeps its MFA service's data in DIR/{STACK_SERVICE_DIR})")
        raise DataDirError(f"{root} is an MFA service's own data directory; `duomfa up --data` takes the stack's "
                           f"directory: {instead}")
    return root


def duomfa_command() -> str:
    """This duomfa, as a command that works in any terminal: the virtualenv it runs from need not be active there."""
    script = Path(sys.executable).parent / "duomfa"
    if script.is_file() and os.access(script, os.X_OK):
        return shlex.quote(str(script))
    return shlex.join([sys.executable, "-m", "duomfa"])


@dataclass
class RunningStack:
    root: Path
    mfa: RunningService
    proxy: RunningProxy
    banner: str  # what `duomfa up` prints: where things are and commands that work as pasted

    async def close(self) -> None:
        await self.proxy.close()
        await self.mfa.close()


async def start_stack(data: str | Path | None, *, port: int, http_port: int, mfa_port: int, policy: Policy,
                      log_requests: bool = False, notify: Notify, generator: random.Random | None = None
                      ) -> RunningStack:
    """Start the MFA service and the proxy on 127.0.0.1, with the demo integration and users; `notify` hears what
    the start found and changed (an unusable secret replaced, data left at the earlier default location)."""
    root = stack_root(data)
    if data is None:
        earlier = earlier_default_notice()
        if earlier is not None:
            notify(earlier)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    mfa = await start_service(root / STACK_SERVICE_DIR, "127.0.0.1", mfa_port, policy, echo=None,
                              log_requests=log_requests, port_option="--mfa-port")
    try:
        admin = Admin(mfa.data_dir.path, notify=notify)
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
            next_user = next((name for name in NEXT_USERS if admin.store.user_by_name(name) is None),
                             f"user{len(admin.store.users()) + 1}")
        finally:
            admin.close()
        assert integration is not None
        secret = _shared_secret(root, generator or secrets.SystemRandom(), notify)
        config = write_proxy_config(root, ikey=integration.ikey, skey=integration.skey, api_host=mfa.api_host,
                                    ca_cert=mfa.data_dir.ca_cert, secret=secret, port=port, http_port=http_port)
        proxy = await start_proxy(load_settings(config, {}), port_options=PORT_OPTIONS)
    except BaseException:
        await mfa.close()
        raise
    duomfa = duomfa_command()
    quoted = shlex.quote(secret)
    banner = "\n".join([
        f"duomfa up: data in {root}",
        f"  RADIUS proxy   127.0.0.1:{proxy.port} (UDP), shared secret {secret}",
        f"                 health http://127.0.0.1:{proxy.http_port}/readyz, config {config}",
        f"  MFA service    https://{mfa.api_host} (CA {mfa.data_dir.ca_cert})",
        f"  demo user      {DEMO_USER}: approve pushes at {device_page}",
        f"                 TOTP for an authenticator app: {otp.totp_uri(device.totp_secret or '', DEMO_USER)}",
        f"  exempt user    {EXEMPT_USER} (accepted without Duo)",
        "  try (approve the push on the device page):",
        f"    radtest {DEMO_USER} push 127.0.0.1:{proxy.port} 0 {quoted}",
        f"    {duomfa} radtest {DEMO_USER} push --port {proxy.port} --secret {quoted}",
        "  add a user (it prints their device page and TOTP):",
        f"    {duomfa} mfa user add {next_user} --data {shlex.quote(str(root))}",
        "  Ctrl-C stops the stack.",
    ])
    return RunningStack(root, mfa, proxy, banner)


async def run_stack(args: argparse.Namespace, policy: Policy, out: TextIO = sys.stdout) -> None:
    def notify(message: str) -> None:
        print(f"duomfa up: notice: {message}", file=out, flush=True)

    stack = await start_stack(args.data, port=args.port, http_port=args.http_port, mfa_port=args.mfa_port,
                              policy=policy, log_requests=args.log_requests, notify=notify)
    try:
        print(stack.banner, file=out, flush=True)
        signum = await wait_for_stop_signal()
        print(f"duomfa up: stopping ({signum.name})", file=out, flush=True)
    finally:
        await stack.close()
