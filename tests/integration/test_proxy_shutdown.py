"""Stopping a proxy (a rolling deployment sends SIGTERM) finishes the pushes it is waiting on and takes nothing new."""

from __future__ import annotations

import signal
import socket
import threading
import time

from duomfa import radius
from support import MfaServer, ProxyProcess, proxy_config

A = radius.constants
SECRET = b"shutdown-secret"


def send(port: int, username: bytes, password: bytes) -> tuple[socket.socket, bytes, bytes]:
    authenticator = radius.new_request_authenticator()
    packet = radius.encode_request(A.ACCESS_REQUEST, 3, authenticator, [
        (A.USER_NAME, username), (A.USER_PASSWORD, radius.hide_user_password(password, SECRET, authenticator))],
        SECRET)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.sendto(packet, ("127.0.0.1", port))
    return sock, authenticator, packet


def reply_code(sock: socket.socket, authenticator: bytes, timeout: float) -> int | None:
    sock.settimeout(timeout)
    try:
        return radius.verify_reply(sock.recvfrom(4096)[0], authenticator, SECRET).code
    except TimeoutError:
        return None
    finally:
        sock.close()


def test_sigterm_finishes_a_waiting_push_and_refuses_new_requests(tmp_path):
    mfa = MfaServer(tmp_path / "mfa", "--push-timeout", "60").start()
    try:
        app = mfa.admin("app", "add", "shutdown")
        mfa.admin("user", "add", "pat", "--push")
        proxy = ProxyProcess(proxy_config(tmp_path / "proxy.cfg", app, secret=SECRET.decode(),
                                          extra="exempt_username_1 = svc-exempt")).start()
        waiting, authenticator, _ = send(proxy.port, b"pat", b"push")
        time.sleep(1.0)  # the push is now pending at the MFA service
        proxy.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        late, late_authenticator, _ = send(proxy.port, b"svc-exempt", b"push")
        assert reply_code(late, late_authenticator, 1.5) is None  # new requests go to another proxy
        threading.Timer(0.5, lambda: mfa.admin("push", "approve", "pat")).start()
        assert reply_code(waiting, authenticator, 15) == A.ACCESS_ACCEPT  # the user who was approving gets in
        assert proxy.process.wait(timeout=20) == 0
        output = proxy.stop()
        assert '"event":"draining"' in output and "fail closed" not in output and '"event":"abandoned"' not in output
    finally:
        mfa.stop()
