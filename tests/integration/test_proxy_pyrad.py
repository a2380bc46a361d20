"""pyrad as a second, independent RADIUS client: Message-Authenticator policy, retransmissions, several secrets."""

from __future__ import annotations

import json
import threading
import time

import pyrad.client
import pyrad.packet
import pytest

from support import MfaServer, ProxyProcess, proxy_config, pyrad_dictionary

SECRET = "pyrad-secret"


@pytest.fixture(scope="module")
def mfa(tmp_path_factory):
    server = MfaServer(tmp_path_factory.mktemp("mfa"), "--push-timeout", "20").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def app(mfa):
    return mfa.admin("app", "add", "pyrad")


@pytest.fixture
def start_proxy(tmp_path, app):
    started = []

    def start(extra="", secret=SECRET, env=None):
        config = proxy_config(tmp_path / f"proxy{len(started)}.cfg", app, secret=secret,
                              extra="exempt_username_1 = svc-exempt\n" + extra)
        proxy = ProxyProcess(config, env=env).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def client(proxy, secret=SECRET, timeout=1.0, retries=1):
    return pyrad.client.Client(server="127.0.0.1", authport=proxy.port, secret=secret.encode(),
                               dict=pyrad_dictionary(), timeout=timeout, retries=retries, enforce_ma=True)


def request(radius_client, username, password, message_authenticator=True):
    packet = radius_client.CreateAuthPacket(code=pyrad.packet.AccessRequest, User_Name=username,
                                            message_authenticator=message_authenticator)
    packet["User-Password"] = packet.PwCrypt(password)
    return packet


def answered(radius_client, packet):
    try:
        return radius_client.SendPacket(packet)
    except pyrad.client.Timeout:
        return None


@pytest.mark.parametrize("mode, with_ma_first, without_ma_answered", [
    ("yes", False, False), ("no", True, True), ("auto", False, True), ("auto", True, False),
])
def test_message_authenticator_modes(start_proxy, mode, with_ma_first, without_ma_answered):
    proxy = start_proxy(f"require_message_authenticator = {mode}")
    rc = client(proxy)
    if with_ma_first:
        reply = answered(rc, request(rc, "svc-exempt", "push"))
        assert reply is not None and reply.code == pyrad.packet.AccessAccept
    reply = answered(rc, request(rc, "svc-exempt", "push", message_authenticator=False))
    assert (reply is not None) == without_ma_answered
    if reply is not None:
        assert reply.code == pyrad.packet.AccessAccept


def test_a_bad_message_authenticator_is_dropped(start_proxy):
    proxy = start_proxy()
    rc = client(proxy)
    packet = request(rc, "svc-exempt", "push")
    raw = bytearray(packet.RequestPacket())
    raw[-1] ^= 0xFF  # Message-Authenticator is the last attribute pyrad wrote: now wrong
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        sock.sendto(bytes(raw), ("127.0.0.1", proxy.port))
        with pytest.raises(socket.timeout):
            sock.recvfrom(4096)
    assert proxy.metric("duomfa_radius_drops_total", 'reason="bad_message_authenticator"') == 1


def test_retransmissions_join_one_push(mfa, start_proxy):
    proxy = start_proxy()
    mfa.admin("user", "add", "retry-user", "--push")
    rc = client(proxy, timeout=1.0, retries=6)  # resends the same packet every second, like Directory Service

    def approve_after_retries():
        time.sleep(3.5)
        mfa.admin("push", "approve", "retry-user")

    approver = threading.Thread(target=approve_after_retries)
    approver.start()
    reply = rc.SendPacket(request(rc, "retry-user", "push"))
    approver.join()
    assert reply.code == pyrad.packet.AccessAccept
    entries = [e for e in mfa.admin("log", "--user", "retry-user")["entries"] if e["event"] == "auth"]
    assert len(entries) == 1 and entries[0]["factor"] == "push"
    assert proxy.metric("duomfa_radius_retransmissions_total", 'kind="joined"') >= 2


def test_two_secrets_at_once_each_reply_signed_with_its_own(tmp_path, start_proxy):
    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_text(json.dumps({
        "AWSCURRENT": {"radius_secret": "current-secret"},
        "AWSPENDING": {"radius_secret": "pending-secret"},
    }))
    # "no": this test sends with and without Message-Authenticator from one address
    proxy = start_proxy(f"secrets_source = file:{secrets_file}\nradius_ip_1 = 127.0.0.1\n"
                        "require_message_authenticator = no", secret=None)
    for secret in ("current-secret", "pending-secret"):
        for with_ma in (True, False):
            rc = client(proxy, secret=secret)
            rc.enforce_ma = True
            reply = answered(rc, request(rc, "svc-exempt", "push", message_authenticator=with_ma))
            assert reply is not None and reply.code == pyrad.packet.AccessAccept, (secret, with_ma)
    third = client(proxy, secret="third-secret")
    assert answered(third, request(third, "svc-exempt", "push")) is None
    assert answered(third, request(third, "svc-exempt", "push", message_authenticator=False)) is None
    labels = [r["secret_version"] for r in proxy.records("auth")]
    assert labels.count("AWSCURRENT") == 2 and labels.count("AWSPENDING") == 2
    assert "current-secret" not in proxy.stop() and "pending-secret" not in "".join(proxy.output)
