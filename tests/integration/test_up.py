"""`duomfa up`, the README's main command: the stack starts, prints what to try, logs in, stops, restarts the same."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading

import pyotp

from support import duomfa, duomfa_json, free_port


class Stack:
    def __init__(self, data):
        self.data = data
        self.port, self.http_port, self.mfa_port = free_port(2), free_port(), free_port()
        self.lines: list[str] = []

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("DUOMFA_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "duomfa", "up", "--data", str(self.data), "--port", str(self.port),
             "--http-port", str(self.http_port), "--mfa-port", str(self.mfa_port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**env, "PYTHONUNBUFFERED": "1"})
        ready = threading.Event()

        def read():
            for line in self.process.stdout:
                self.lines.append(line)
                if "Ctrl-C stops the stack" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        assert ready.wait(60) and self.process.poll() is None, "".join(self.lines)
        return self

    def banner(self, pattern):
        match = re.search(pattern, "".join(self.lines))
        assert match, "".join(self.lines)
        return match.group(1)

    def stop(self):
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise AssertionError("duomfa up did not stop:\n" + "".join(self.lines)) from None


def test_up_prints_working_commands_and_restarts_with_the_same_data(tmp_path):
    stack = Stack(tmp_path / "stack").start()
    try:
        secret = stack.banner(r"shared secret (\S+)")
        totp_uri = stack.banner(r"(otpauth://\S+)")
        radtest_line = stack.banner(r"\n\s+(radtest .+)\n")
        assert f"127.0.0.1:{stack.port}" in radtest_line and secret in radtest_line
        result = duomfa_json("radtest", "demo", pyotp.parse_uri(totp_uri).now(), "--port", str(stack.port),
                             "--secret", secret, "--timeout", "10")
        assert result["code"] == "Access-Accept", result
        wrong = duomfa("radtest", "demo", "000000", "--port", str(stack.port), "--secret", secret,
                       "--timeout", "10", check=False)
        assert wrong.returncode == 1 and "Access-Reject" in wrong.stdout
        # FreeRADIUS's radtest, as printed (for the exempt user, from a fresh port; no Message-Authenticator)
        exempt = subprocess.run(["radtest", "svc-exempt", "x", f"127.0.0.1:{stack.port}", "0", secret],
                                capture_output=True, text=True, timeout=30)
        assert "Received Access-Accept" in exempt.stdout or "Access-Accept" in exempt.stdout + exempt.stderr
    finally:
        assert stack.stop() == 0
    assert "stopping (SIGINT)" in "".join(stack.lines)

    again = Stack(tmp_path / "stack").start()
    try:
        assert again.banner(r"shared secret (\S+)") == secret
        assert again.banner(r"(otpauth://\S+)") == totp_uri
    finally:
        again.stop()
