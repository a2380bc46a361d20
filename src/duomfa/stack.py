"""`duomfa up`: the whole local stack in one process, on 127.0.0.1, with a demo integration and user."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

import platformdirs

from duomfa.mfaservice import otp
from duomfa.mfaservice.admin import Admin
from duomfa.mfaservice.server import start_service
from duomfa.signals import wait_for_stop_signal

DEMO_APP = "duomfa-demo"
DEMO_USER = "demo"


def default_stack_dir() -> Path:
    return platformdirs.user_data_path("duomfa") / "stack"


async def run_stack(args: argparse.Namespace, out: TextIO = sys.stdout) -> None:
    from duomfa.cli import _policy

    root = Path(args.data) if args.data else default_stack_dir()
    mfa_dir = root / "mfaservice"
    running = await start_service(mfa_dir, "127.0.0.1", args.mfa_port, _policy(args), echo=None)
    try:
        admin = Admin(mfa_dir)
        try:
            if admin.store.integration_by_name(DEMO_APP) is None:
                admin.add_app(DEMO_APP)
            if admin.store.user_by_name(DEMO_USER) is None:
                admin.add_user(DEMO_USER, totp=True, push=True, phone=None)
            integration = admin.store.integration_by_name(DEMO_APP)
            user = admin.store.require_user(DEMO_USER)
            device = admin.store.devices_of(user.user_id)[0]
            device_page = admin.device_view(device)["device_page"]
        finally:
            admin.close()
        assert integration is not None
        print(f"duomfa up: data in {root}", file=out)
        print(f"  MFA service   https://{running.api_host}  (CA: {running.data_dir.ca_cert})", file=out)
        print(f"  integration   {DEMO_APP}: ikey {integration.ikey}",
              file=out)
        print(f"  demo user     {DEMO_USER}: device page {device_page}", file=out)
        if device.totp_secret:
            print(f"                TOTP {otp.totp_uri(device.totp_secret, DEMO_USER)}", file=out)
        print("  Ctrl-C stops the stack.", file=out, flush=True)
        signum = await wait_for_stop_signal()
        print(f"duomfa up: stopping ({signum.name})", file=out, flush=True)
    finally:
        await running.close()
