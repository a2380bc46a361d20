"""Helpers shared by the tests: run duomfa commands and the MFA service as real processes."""

from __future__ import annotations

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


class MfaServer:
    """`duomfa mfa serve` in a subprocess on a free port; its stdout (the auth log echo) is kept for inspection."""

    def __init__(self, data: Path, *extra: str):
        self.data = data
        self.extra = extra
        self.port = free_port()
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    def start(self) -> "MfaServer":
        self.process = subprocess.Popen(
            [sys.executable, "-m", "duomfa", "mfa", "serve", "--data", str(self.data), "--port", str(self.port),
             *self.extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        listening = threading.Event()

        def read_output(stream):
            for line in stream:
                self.output.append(line)
                if "listening on" in line:
                    listening.set()

        self._reader = threading.Thread(target=read_output, args=(self.process.stdout,), daemon=True)
        self._reader.start()
        if not listening.wait(30):
            self.stop()
            raise AssertionError("MFA service did not start:\n" + "".join(self.output))
        return self

    def stop(self) -> str:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=15)
            self._reader.join(timeout=5)
            self.process = None
        return "".join(self.output)

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
