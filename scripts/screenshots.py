#!/usr/bin/env python3
"""The device page's screenshots in docs/images/, at a phone's and a desktop's width.

Starts `duomfa mfa serve` on a free port with a throwaway data directory, adds a demo user and sends it a push
(as the proxy would), then photographs the device page with Playwright's chromium: the pending push at both widths,
and the notice after Approve at a phone's. Run from the repository with its virtualenv:

    .venv/bin/python scripts/screenshots.py [--out docs/images] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
# what the proxy sends with a push: its name and the address of the client that is logging in
CLIENT_IP = "198.51.100.7"
PUSHINFO = f"from=AWS Directory Service (duomfa)&client_ip={CLIENT_IP}"
SHOTS = {  # name: (viewport width, height, device scale factor, is_mobile, also after Approve)
    "phone": (390, 844, 2, True, True),
    "desktop": (1280, 800, 1, False, False),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def duomfa(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "duomfa", *args], check=True, capture_output=True, text=True,
                          timeout=60).stdout


class Service:
    """`duomfa mfa serve` in a subprocess, until stop()."""

    def __init__(self, data: Path) -> None:
        self.data, self.port = data, free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "duomfa", "mfa", "serve", "--data", str(data), "--port", str(self.port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ready = threading.Event()

        def read(stream):  # keep reading so the service never blocks on a full pipe
            for line in stream:
                if "listening on" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=read, args=(self.process.stdout,), daemon=True).start()
        if not ready.wait(30) or self.process.poll() is not None:
            self.stop()
            raise SystemExit("the MFA service did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)


def push(service: Service, ikey: str, skey: str, username: str) -> str:
    import duo_client

    auth = duo_client.Auth(ikey=ikey, skey=skey, host="127.0.0.1", port=service.port,
                           ca_certs=str(service.data / "tls" / "ca.pem"))
    return str(auth.auth("push", username=username, device="auto", async_txn=True, ipaddr=CLIENT_IP,
                         pushinfo=PUSHINFO)["txid"])


def photograph(service: Service, out: Path, chromium: str) -> list[Path]:
    import json

    from playwright.sync_api import sync_playwright

    app = json.loads(duomfa("mfa", "app", "add", "screenshots", "--data", str(service.data), "--json"))
    user = json.loads(duomfa("mfa", "user", "add", "demo", "--push", "--totp", "--data", str(service.data),
                             "--json"))
    device_page = user["devices"][0]["device_page"]
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        for name, (width, height, scale, mobile, approved) in SHOTS.items():
            push(service, app["ikey"], app["skey"], "demo")
            # the service's own CA is not in chromium's store: here the page is trusted as a person would, once
            context = browser.new_context(ignore_https_errors=True, viewport={"width": width, "height": height},
                                          device_scale_factor=scale, is_mobile=mobile, has_touch=mobile,
                                          color_scheme="light")
            page = context.new_page()
            page.goto(device_page)
            page.get_by_test_id("pending").wait_for()
            page.wait_for_timeout(1_200)  # the countdowns have ticked
            for shot, action in (("pending", None), ("approved", "approve"))[:2 if approved else 1]:
                if action:
                    page.get_by_test_id(action).click()
                    page.get_by_test_id("confirmation-text").wait_for()
                    page.get_by_test_id("no-pending").wait_for()
                path = out / f"device-page-{shot}-{name}.png"
                page.screenshot(path=str(path), full_page=True)
                written.append(path)
            context.close()
        browser.close()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPOSITORY / "docs" / "images", help="default: docs/images")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium",
                        help="the chromium to drive (default: Debian's, as the browser tests use)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="duomfa-screenshots-") as data:
        service = Service(Path(data) / "mfaservice")
        try:
            started = time.monotonic()
            for path in photograph(service, args.out, args.chromium):
                print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")
            print(f"done in {time.monotonic() - started:.1f} s")
        finally:
            service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
