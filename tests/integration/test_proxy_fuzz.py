"""A mutation fuzzer against the running proxy, with a live login answered after every few thousand datagrams.

Anything in the VPC can reach the RADIUS port: damaged packets — also ones whose Message-Authenticator is valid —
must be dropped and counted, never crash the proxy or slow real logins. FUZZ_DATAGRAMS makes the run longer.
"""

from __future__ import annotations

import os
import socket
import time

from duomfa import radius
from radius_mutations import fuzz_datagrams
from support import ProxyProcess, duomfa_json, free_port, proxy_config

A = radius.constants
SECRET = "fuzz-secret"
DATAGRAMS = int(os.environ.get("FUZZ_DATAGRAMS", "12000"))
LIVE_EVERY = 3000


def live_login(port: int) -> float:
    secret = SECRET.encode()
    authenticator = radius.new_request_authenticator()
    packet = radius.encode_request(
        A.ACCESS_REQUEST, 1, authenticator,
        [(A.USER_NAME, b"svc-exempt"), (A.USER_PASSWORD, radius.hide_user_password(b"push", secret, authenticator))],
        secret)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        started = time.monotonic()
        for _ in range(6):  # a real client retries; the proxy must answer one of them
            sock.sendto(packet, ("127.0.0.1", port))
            try:
                reply = radius.verify_reply(sock.recvfrom(4096)[0], authenticator, secret)
            except TimeoutError:
                continue
            assert reply.code == A.ACCESS_ACCEPT
            return time.monotonic() - started
    raise AssertionError("the proxy stopped answering real logins")


def test_mutated_datagrams_never_stop_the_proxy(tmp_path):
    app = duomfa_json("mfa", "app", "add", "fuzz", "--data", str(tmp_path / "mfa"))
    # Duo at a closed port, failmode secure: datagrams that get through to the Duo step are answered fast with Reject
    config = proxy_config(tmp_path / "proxy.cfg", app, secret=SECRET, api_host=f"127.0.0.1:{free_port()}",
                          extra="exempt_username_1 = svc-exempt\nfailmode = secure\nrequire_message_authenticator = no"
                                "\nmax_pushes_per_user_per_minute = 1000")
    proxy = ProxyProcess(config).start()
    try:
        live = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            for index, datagram in enumerate(fuzz_datagrams(seed=2026, count=DATAGRAMS, secret=SECRET.encode(),
                                                            usernames=[b"svc-exempt", b"alice", b"\xc3\x28", b""])):
                try:
                    sock.sendto(datagram, ("127.0.0.1", proxy.port))
                except (BlockingIOError, OSError):
                    time.sleep(0.001)  # kernel buffer full or datagram too large for UDP: go on
                if index % 200 == 0:
                    time.sleep(0.005)  # let the proxy keep up; this is about robustness, not load
                if index and index % LIVE_EVERY == 0:
                    live.append(live_login(proxy.port))
        live.append(live_login(proxy.port))
        assert proxy.process.poll() is None
        assert proxy.metric("duomfa_radius_drops_total", 'reason="internal_error"') == 0
        assert proxy.metric("duomfa_radius_drops_total", 'reason="malformed"') > DATAGRAMS / 10
        # the intact unverifiable requests (every tenth) get no reply, whatever the user
        assert proxy.metric("duomfa_radius_drops_total", 'reason="unverifiable"') >= DATAGRAMS // 10
        assert proxy.metric("duomfa_radius_requests_total", 'result="reject"') > 0
        assert len(live) == (DATAGRAMS - 1) // LIVE_EVERY + 1 and max(live) < 3.0
    finally:
        output = proxy.stop()
    assert "Traceback" not in output and SECRET not in output
