"""The drills' proxies: real `duomfa proxy` processes on loopback addresses (the whole 127/8 is loopback on Linux),
started the way a task starts and stopped the way ECS stops one — SIGTERM, then SIGKILL after the stop timeout."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
from pathlib import Path


class ProxyStartFailed(Exception):
    """A proxy process exited, or said nothing, before it was listening."""


def free_udp_port(addresses: list[str]) -> int:
    """A UDP port that is free on every one of `addresses`."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((addresses[0], 0))
            port: int = probe.getsockname()[1]
        try:
            for address in addresses[1:]:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
                    other.bind((address, port))
            return port
        except OSError:
            continue
    raise OSError(f"no UDP port is free on all of {', '.join(addresses)}")


def write_proxy_config(path: Path, *, address: str, port: int, secrets_source: str, ca_cert: Path,
                       radius_client: str, exempt_user: str, push_wait_seconds: float = 75) -> Path:
    """An authproxy.cfg-style file for one drill proxy: its own address, the drill's "domain controller" as the
    only RADIUS client, the local MFA service as Duo, and secrets re-read every second."""
    path.write_text("\n".join([
        "[radius_server_duo_only]",
        f"secrets_source = {secrets_source}",
        "secrets_refresh_seconds = 1",
        f"radius_clients = {radius_client}",
        "status_server_clients = 127.0.0.0/8",
        f"interface = {address}",
        f"port = {port}",
        "http_port = 0",
        f"ca_certs = {ca_cert}",
        f"exempt_username_1 = {exempt_user}",
        "failmode = secure",
        "max_pushes_per_user_per_minute = 1000",
        f"push_wait_seconds = {push_wait_seconds:g}",
        "",
    ]))
    return path


class ProxyProcess:
    """One `duomfa proxy` process; its output is kept for the drill's error messages."""

    def __init__(self, config: Path, env: dict[str, str]):
        self.config, self.env = config, env
        self.output: list[str] = []
        self.process: subprocess.Popen[str] | None = None
        self.killed = False

    async def start(self, timeout: float = 30) -> None:
        """Start it and return once it says it is listening."""
        self.process = subprocess.Popen([sys.executable, "-m", "duomfa", "proxy", "-c", str(self.config)],
                                        env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        loop = asyncio.get_running_loop()
        listening: asyncio.Future[bool] = loop.create_future()

        def settle(value: bool) -> None:
            if not listening.done():
                listening.set_result(value)

        def read() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                self.output.append(line)
                if '"event":"listening"' in line:
                    loop.call_soon_threadsafe(settle, True)
            loop.call_soon_threadsafe(settle, False)

        loop.run_in_executor(None, read)
        try:
            started = await asyncio.wait_for(listening, timeout)
        except TimeoutError:
            started = False
        if not started:
            self.kill()
            raise ProxyStartFailed("a proxy did not start:\n" + "".join(self.output[-20:]))

    async def stop(self, stop_timeout: float) -> str:
        """What ECS does to a task's container: SIGTERM, and SIGKILL if it has not exited after `stop_timeout`.
        Returns "exited" or "killed"."""
        process = self.process
        if process is None or process.poll() is not None:
            return "exited"
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.to_thread(process.wait), stop_timeout)
            return "exited"
        except TimeoutError:
            self.kill()
            return "killed"

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.killed = True
            self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
