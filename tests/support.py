"""Helpers shared by the tests: run duomfa commands and the MFA service as real processes."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import duo_client


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def duomfa(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "duomfa", *args], capture_output=True, text=True, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"duomfa {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def duomfa_json(*args: str) -> dict[str, Any]:
    return json.loads(duomfa(*args, "--json").stdout)


class _Process:
    """A duomfa command in a subprocess whose output is kept; `started(line)` says when it is ready."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    def started(self, line: str) -> bool:
        raise NotImplementedError

    def _launch(self, args: list[str], env: dict[str, str], what: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "duomfa", *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, env={**env, "PYTHONUNBUFFERED": "1"})
        ready = threading.Event()
        self._ready = False

        def read_output(stream):
            for line in stream:
                self.output.append(line)
                if not self._ready and self.started(line):
                    self._ready = True
                    ready.set()
            ready.set()  # the process ended: stop waiting

        self._reader = threading.Thread(target=read_output, args=(self.process.stdout,), daemon=True)
        self._reader.start()
        if not ready.wait(30) or not self._ready:
            self.stop()
            raise AssertionError(f"{what} did not start:\n" + "".join(self.output))

    def stop(self) -> str:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=15)
            self._reader.join(timeout=5)
            self.process = None
        return "".join(self.output)


class MfaServer(_Process):
    """`duomfa mfa serve` in a subprocess on a free port; its stdout (the auth log echo) is kept for inspection."""

    def __init__(self, data: Path, *extra: str):
        super().__init__()
        self.data = data
        self.extra = extra
        self.port = free_port()

    def started(self, line: str) -> bool:
        return "listening on" in line

    def start(self) -> MfaServer:
        self._launch(["mfa", "serve", "--data", str(self.data), "--port", str(self.port), *self.extra],
                     dict(os.environ), "MFA service")
        return self

    @property
    def ca_cert(self) -> str:
        return str(self.data / "tls" / "ca.pem")

    def client(self, ikey: str, skey: str, sig_version: int | None = None, **kwargs: Any) -> duo_client.Auth:
        options: dict[str, Any] = {"sig_version": sig_version} if sig_version else {}
        options.update(kwargs)
        return duo_client.Auth(ikey=ikey, skey=skey, host="127.0.0.1", port=self.port, ca_certs=self.ca_cert,
                               **options)

    def admin(self, *args: str) -> dict[str, Any]:
        return duomfa_json("mfa", *args, "--data", str(self.data))


class ProxyProcess(_Process):
    """`duomfa proxy -c FILE` in a subprocess; its JSON log lines are kept for the tests to read."""

    def __init__(self, config_path: Path, env: dict[str, str] | None = None):
        super().__init__()
        self.config_path = config_path
        self.env = env or {}
        self.port = 0
        self.http_port = 0

    def started(self, line: str) -> bool:
        if '"event":"listening"' not in line:
            return False
        record = json.loads(line)
        self.port, self.http_port = record["port"], record["http_port"]
        return True

    def start(self) -> ProxyProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DUOMFA_")}
        self._launch(["proxy", "-c", str(self.config_path)], {**env, **self.env}, "proxy")
        return self

    def records(self, event: str | None = None) -> list[dict[str, Any]]:
        found = []
        for line in list(self.output):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if event is None or record.get("event") == event:
                found.append(record)
        return found

    def metric(self, name: str, labels: str = "") -> float:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=5) as response:
            text = response.read().decode()
        wanted = f"{name}{{{labels}}}" if labels else name
        for line in text.splitlines():
            if line.startswith(wanted + " "):
                return float(line.split()[-1])
        return 0.0


def proxy_config(path: Path, app: dict[str, Any], *, secret: str = "testing123", clients: str = "127.0.0.1",
                 extra: str = "", api_host: str | None = None, ca_cert: str | None = None,
                 api_timeout: float = 3) -> Path:
    """An authproxy.cfg pointing at a local MFA service integration, on free ports."""
    lines = [
        "[main]", "debug = true", "", "[radius_server_duo_only]",
        f"ikey = {app['ikey']}", f"skey = {app['skey']}", f"api_host = {api_host or app['api_host']}",
        f"ca_certs = {ca_cert or app['ca_cert']}", "interface = 127.0.0.1", f"port = {free_port(socket.SOCK_DGRAM)}",
        "http_interface = 127.0.0.1", f"http_port = {free_port()}", f"api_timeout = {api_timeout}",
    ]
    if secret is not None:
        lines += [f"radius_ip_1 = {clients}", f"radius_secret_1 = {secret}"]
    path.write_text("\n".join(lines) + "\n" + extra + "\n")
    return path


def radclient(port: int, secret: str, attributes: str, *, command: str = "auth", timeout: float = 3,
              retries: int = 1) -> subprocess.CompletedProcess[str]:
    """FreeRADIUS's radclient sending one request; its output says what came back."""
    return subprocess.run(
        ["radclient", "-x", "-r", str(retries), "-t", str(timeout), f"127.0.0.1:{port}", command, secret],
        input=attributes, capture_output=True, text=True, timeout=timeout * (retries + 1) + 30,
    )


# The attributes the tests send through pyrad, in FreeRADIUS dictionary syntax (pyrad ships no dictionary).
PYRAD_DICTIONARY = """
ATTRIBUTE User-Name 1 string
ATTRIBUTE User-Password 2 string encrypt=1
ATTRIBUTE CHAP-Password 3 octets
ATTRIBUTE NAS-IP-Address 4 ipaddr
ATTRIBUTE Reply-Message 18 string
ATTRIBUTE State 24 octets
ATTRIBUTE Class 25 octets
ATTRIBUTE Vendor-Specific 26 octets
ATTRIBUTE Calling-Station-Id 31 string
ATTRIBUTE NAS-Identifier 32 string
ATTRIBUTE Proxy-State 33 octets
ATTRIBUTE Acct-Status-Type 40 integer
ATTRIBUTE EAP-Message 79 octets
ATTRIBUTE Message-Authenticator 80 octets
VENDOR Microsoft 311
BEGIN-VENDOR Microsoft
ATTRIBUTE MS-CHAP-Challenge 11 octets
ATTRIBUTE MS-CHAP2-Response 25 octets
END-VENDOR Microsoft
"""


def pyrad_dictionary():
    import io

    import pyrad.dictionary

    return pyrad.dictionary.Dictionary(io.StringIO(PYRAD_DICTIONARY))


class ConnectProxy:
    """A web proxy that only tunnels (HTTP CONNECT), on 127.0.0.1, remembering where each tunnel went and counting
    the bytes it carried towards them (a kept-alive tunnel carries many calls)."""

    def __init__(self) -> None:
        self.tunnels: list[str] = []
        self.carried = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def _tunnel(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        method, target = request.split(b" ")[:2]
        if method != b"CONNECT":
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            writer.close()
            return
        self.tunnels.append(target.decode())
        host, port = target.decode().rsplit(":", 1)
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter, outbound: bool = False) -> None:
            try:
                while data := await source.read(65536):
                    self.carried += len(data) if outbound else 0
                    sink.write(data)
                    await sink.drain()
            except ConnectionError:
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, upstream_writer, outbound=True), pipe(upstream_reader, writer))

    def start(self) -> ConnectProxy:
        self._thread.start()
        server = asyncio.run_coroutine_threadsafe(asyncio.start_server(self._tunnel, "127.0.0.1", 0),
                                                  self._loop).result(10)
        self._server = server
        self.port = server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self._server.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
