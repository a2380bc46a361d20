"""Duo's [main] section end to end: the web proxy and CA bundle set there carry every call to Duo (through a real
CONNECT proxy on 127.0.0.1), `client_ip_attr = paloalto` reads the Palo Alto vendor attribute out of real UDP
packets sent by pyrad, and `log_syslog` copies the log lines to a real Unix datagram socket — without a secret."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import os
import socket
import time

import pyotp
import pyrad.client
import pyrad.dictionary
import pyrad.packet
import pytest

from duomfa.config import load_settings
from duomfa.logline import JsonLog
from duomfa.proxy.server import start_proxy
from support import PYRAD_DICTIONARY, ConnectProxy, MfaServer, ProxyProcess, free_port

SECRET = "main-section-secret"
PALO_ALTO_DICTIONARY = PYRAD_DICTIONARY + """
VENDOR PaloAlto 25461
BEGIN-VENDOR PaloAlto
ATTRIBUTE PaloAlto-Client-Source-IP 7 string
END-VENDOR PaloAlto
"""


@pytest.fixture(scope="module")
def mfa(tmp_path_factory):
    server = MfaServer(tmp_path_factory.mktemp("mfa")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def app(mfa):
    return mfa.admin("app", "add", "main-section")


@pytest.fixture(scope="module")
def web_proxy():
    proxy = ConnectProxy().start()
    yield proxy
    proxy.stop()


def main_section_config(path, app, *, main_extra="", server_extra=""):
    """Duo's file layout: the web proxy and the CA bundle in [main] only; no ca_certs in the server section."""
    path.write_text(f"""\
[main]
debug = true
http_ca_certs_file = {app['ca_cert']}
{main_extra}

[radius_server_duo_only]
ikey = {app['ikey']}
skey = {app['skey']}
api_host = {app['api_host']}
api_timeout = 5
interface = 127.0.0.1
port = {free_port(socket.SOCK_DGRAM)}
http_interface = 127.0.0.1
http_port = {free_port()}
radius_ip_1 = 127.0.0.1
radius_secret_1 = {SECRET}
exempt_username_1 = svc-exempt
{server_extra}
""")
    return path


def totp_user(mfa, name):
    user = mfa.admin("user", "add", name, "--totp")
    return pyotp.parse_uri(user["totp_uri"])


def pyrad_client(port):
    return pyrad.client.Client(server="127.0.0.1", authport=port, secret=SECRET.encode(), timeout=8, retries=1,
                               dict=pyrad.dictionary.Dictionary(io.StringIO(PALO_ALTO_DICTIONARY)), enforce_ma=True)


def login(port, username, password, vendor=None, raw_vendor_specific=None):
    client = pyrad_client(port)
    packet = client.CreateAuthPacket(code=pyrad.packet.AccessRequest, User_Name=username, message_authenticator=True)
    packet["User-Password"] = packet.PwCrypt(password)
    packet["Calling-Station-Id"] = "198.51.100.7"  # not the configured attribute: must not reach Duo
    if vendor is not None:
        packet["PaloAlto-Client-Source-IP"] = vendor
    if raw_vendor_specific is not None:
        packet[26] = [raw_vendor_specific]
    reply = client.SendPacket(packet)
    return reply.code


def duo_saw(mfa, username):
    [entry] = [e for e in mfa.admin("log", "--user", username)["entries"] if e["factor"] == "passcode"]
    return entry


def test_the_web_proxy_and_ca_bundle_in_main_carry_every_call_to_duo(tmp_path, mfa, app, web_proxy):
    config = main_section_config(tmp_path / "authproxy.cfg", app,
                                 main_extra=f"http_proxy_host = 127.0.0.1\nhttp_proxy_port = {web_proxy.port}")
    tunnels = len(web_proxy.tunnels)
    proxy = ProxyProcess(config).start()
    try:
        totp = totp_user(mfa, "via-web-proxy")
        carried = web_proxy.carried
        assert login(proxy.port, "via-web-proxy", totp.now()) == pyrad.packet.AccessAccept
        # the login's calls went through the tunnel, to Duo's host, trusted by [main]'s CA bundle
        assert web_proxy.carried > carried
        assert web_proxy.tunnels[tunnels:] and set(web_proxy.tunnels[tunnels:]) == {app["api_host"]}
        [read] = proxy.records("config_read")
        assert read["encoding"] == "UTF-8" and read["file"] == str(config)
    finally:
        proxy.stop()


def test_without_the_web_proxy_nothing_goes_through_it(tmp_path, mfa, app, web_proxy):
    """The other side of the test above: the count moves only when [main] names the proxy."""
    tunnels, carried = len(web_proxy.tunnels), web_proxy.carried
    proxy = ProxyProcess(main_section_config(tmp_path / "authproxy.cfg", app)).start()
    try:
        totp = totp_user(mfa, "direct")
        assert login(proxy.port, "direct", totp.now()) == pyrad.packet.AccessAccept
        assert (len(web_proxy.tunnels), web_proxy.carried) == (tunnels, carried)
    finally:
        proxy.stop()


@pytest.fixture(scope="module")
def paloalto_proxy(tmp_path_factory, app):
    config = main_section_config(tmp_path_factory.mktemp("paloalto") / "authproxy.cfg", app,
                                 server_extra="client_ip_attr = paloalto")
    proxy = ProxyProcess(config).start()
    yield proxy
    proxy.stop()


@pytest.mark.parametrize("user, vendor, raw, expected", [
    ("pan-ipv4", "203.0.113.9", None, "203.0.113.9"),
    ("pan-ipv6", "2001:db8::77", None, "2001:db8::77"),
    # absent, malformed, or not an address: Duo gets no ipaddr, as with a missing Calling-Station-Id
    ("pan-absent", None, None, ""),
    ("pan-overlong", None, (25461).to_bytes(4, "big") + bytes((7, 60)) + b"203.0.113.9", ""),
    ("pan-short", None, b"\x00\x00", ""),
    ("pan-garbage", "not-an-address", None, ""),
])
def test_client_ip_attr_paloalto_reads_the_vendor_attribute(mfa, paloalto_proxy, user, vendor, raw, expected):
    totp = totp_user(mfa, user)
    assert login(paloalto_proxy.port, user, totp.now(), vendor=vendor, raw_vendor_specific=raw) \
        == pyrad.packet.AccessAccept
    assert duo_saw(mfa, user)["ipaddr"] == expected


@pytest.fixture
def syslog_socket():
    path = f"/tmp/duomfa-it-syslog-{os.getpid()}-{time.monotonic_ns()}.sock"  # sun_path holds 108 bytes
    daemon = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    daemon.bind(path)
    daemon.settimeout(0.5)
    yield path, daemon
    daemon.close()
    os.unlink(path)


def received(daemon):
    datagrams = []
    while True:
        try:
            datagrams.append(daemon.recv(65536))
        except TimeoutError:
            return datagrams


async def test_log_syslog_sends_the_json_lines_and_no_secret(tmp_path, mfa, app, syslog_socket):
    path, daemon = syslog_socket
    config = main_section_config(tmp_path / "authproxy.cfg", app,
                                 main_extra="log_syslog = true\nsyslog_facility = LOG_LOCAL3\nlog_max_files = 3")
    settings = dataclasses.replace(load_settings(config, {}), syslog_address=path)
    stdout = io.BytesIO()
    proxy = await start_proxy(settings, JsonLog(stdout, debug=True))
    try:
        totp = totp_user(mfa, "syslogged")
        passcode = totp.now()
        assert await asyncio.to_thread(login, proxy.port, "syslogged", passcode) == pyrad.packet.AccessAccept
        assert await asyncio.to_thread(login, proxy.port, "svc-exempt", "push") == pyrad.packet.AccessAccept
    finally:
        await proxy.close()
    datagrams = await asyncio.to_thread(received, daemon)
    lines = [json.loads(d.split(b": ", 1)[1]) for d in datagrams]
    events = [line["event"] for line in lines]
    assert {"config_read", "config_notice", "listening", "auth", "stopped"} <= set(events)
    assert [line["username"] for line in lines if line["event"] == "auth"] == ["syslogged", "svc-exempt"]
    severity = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3}
    for datagram, line in zip(datagrams, lines, strict=True):  # LOG_LOCAL3, with each line's own severity
        assert datagram.startswith(b"<%d>" % (19 * 8 + severity[line["level"]]))
    # the very lines of standard output, and nothing secret in any of them
    assert [d.split(b": ", 1)[1] + b"\n" for d in datagrams] == stdout.getvalue().splitlines(keepends=True)
    everything = b"".join(datagrams)
    for secret in (SECRET, app["skey"], passcode):
        assert secret.encode() not in everything


async def test_without_a_syslog_socket_the_proxy_says_so_once_and_carries_on(tmp_path, app):
    config = main_section_config(tmp_path / "authproxy.cfg", app, main_extra="log_syslog = true")
    # saved as Notepad's "ANSI" on a Western European Windows, with a non-ASCII comment
    config.write_bytes(("; Verantwortlich: Jürgen\r\n" + config.read_text()).encode("cp1252"))
    settings = dataclasses.replace(load_settings(config, {}), syslog_address=str(tmp_path / "no-syslog-here"))
    stdout = io.BytesIO()
    proxy = await start_proxy(settings, JsonLog(stdout))
    try:
        assert await asyncio.to_thread(login, proxy.port, "svc-exempt", "push") == pyrad.packet.AccessAccept
    finally:
        await proxy.close()
    lines = [json.loads(line) for line in stdout.getvalue().splitlines()]
    [notice] = [line for line in lines if line["event"] == "syslog_unavailable"]
    assert notice["level"] == "WARNING" and notice["error"] == "No such file or directory"
    assert "standard output only" in notice["detail"]
    [read] = [line for line in lines if line["event"] == "config_read"]  # the guess is said, as a WARNING
    assert read["level"] == "WARNING" and read["encoding"] == "Windows-1252 (cp1252): not valid UTF-8"
    assert any(line["event"] == "auth" and line["result"] == "accept" for line in lines)
