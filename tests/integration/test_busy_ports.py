"""A port the proxy cannot have stops it with a message that names the option that chose the port."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest


def config(tmp_path, udp_port: int, http_port: int):
    path = tmp_path / "authproxy.cfg"
    path.write_text(f"""[radius_server_duo_only]
ikey = DIABCDEFGHIJKLMNOPQR
skey = {"s" * 40}
api_host = 127.0.0.1:9
radius_ip_1 = 127.0.0.1
radius_secret_1 = a-shared-secret
interface = 127.0.0.1
port = {udp_port}
http_interface = 127.0.0.1
http_port = {http_port}
""")
    return path


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("held, protocol, option", [
    (socket.SOCK_DGRAM, "UDP", "port in [radius_server_duo_only] (or DUOMFA_PORT)"),
    (socket.SOCK_STREAM, "TCP", "http_port in [radius_server_duo_only] (or DUOMFA_HTTP_PORT)"),
])
def test_a_busy_port_names_its_option(tmp_path, held, protocol, option):
    with socket.socket(socket.AF_INET, held) as holder:
        holder.bind(("127.0.0.1", 0))
        if held == socket.SOCK_STREAM:
            holder.listen()
        busy = holder.getsockname()[1]
        udp_port = busy if held == socket.SOCK_DGRAM else free_port(socket.SOCK_DGRAM)
        http_port = busy if held == socket.SOCK_STREAM else free_port(socket.SOCK_STREAM)
        result = subprocess.run([sys.executable, "-m", "duomfa", "proxy", "-c", str(config(tmp_path, udp_port,
                                                                                            http_port))],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (f"duomfa: error: {protocol} 127.0.0.1:{busy} is already in use (another duomfa, or a RADIUS or web "
            f"server, listens there); choose another with {option}") in result.stderr
    assert "Traceback" not in result.stderr and "a-shared-secret" not in result.stdout + result.stderr


@pytest.mark.parametrize("held, flag", [(socket.SOCK_DGRAM, "--port"), (socket.SOCK_STREAM, "--http-port"),
                                        (socket.SOCK_STREAM, "--mfa-port")])
def test_duomfa_up_names_the_flag_of_a_busy_port(tmp_path, held, flag):
    ports = {"--port": free_port(socket.SOCK_DGRAM), "--http-port": free_port(socket.SOCK_STREAM),
             "--mfa-port": free_port(socket.SOCK_STREAM)}
    with socket.socket(socket.AF_INET, held) as holder:
        holder.bind(("127.0.0.1", ports[flag]))
        if held == socket.SOCK_STREAM:
            holder.listen()
        args = [arg for name, port in ports.items() for arg in (name, str(port))]
        result = subprocess.run([sys.executable, "-m", "duomfa", "up", "--data", str(tmp_path / "data"), *args],
                                capture_output=True, text=True, timeout=120)
    protocol = "UDP" if held == socket.SOCK_DGRAM else "TCP"
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{protocol} 127.0.0.1:{ports[flag]} is already in use" in result.stderr
    assert result.stderr.rstrip().endswith(f"choose another with {flag}"), result.stderr[-500:]
    assert "Traceback" not in result.stderr


def test_mfa_serve_names_its_port_flag(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "duomfa", "mfa", "serve", "--data", str(tmp_path / "mfa"),
                                 "--port", str(busy)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"TCP 127.0.0.1:{busy} is already in use" in result.stderr and "choose another with --port" in result.stderr
