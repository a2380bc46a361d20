"""The proxy's benchmarks, side by side in one run: starts FreeRADIUS, the local MFA service and the proxy, drives
each with bench/loadgen.py, prints a table and a JSON summary, and stops everything.

  (a) exempt-user Access-Requests (no Duo call) through the proxy vs FreeRADIUS 3.2 answering PAP from `files`
  (b) passcode (TOTP) logins through the proxy and the local MFA service: capacity, and latency at 1,500/s
  (c) 10,000 pushes pending at once: the proxy's RSS, and the latency of other requests meanwhile

    .venv/bin/python bench/run.py                  # all three: 5-second runs for (a) and (b), 10 s probes in (c)
    .venv/bin/python bench/run.py --only a --rounds 3 --seconds 5 --json /tmp/bench.json
    .venv/bin/python bench/run.py --only a --fips ~/.cache/duomfa/fips-3.0.22   # (a) with a FIPS-mode proxy too

Needs `freeradius` (apt-get install freeradius) for (a); everything else is this repository's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import timeit
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
LOADGEN = BENCH / "loadgen.py"
FREERADIUS_DIR = BENCH / "freeradius"
SECRET = "bench-shared-secret-1"
EXEMPT_USER = "svc-bench"  # exempt in the proxy; the one user in bench/freeradius/users
EXEMPT_PASSWORD = "bench-password"
PUSH_USERS = 10_000
GOAL_LOGINS_PER_SECOND = 1500
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
OTHERS_LIMIT = 25.0  # percent of a core other programs may use during a measured run before it is run again


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Service:
    """A server in a subprocess, its output in a file; ready when a line containing `ready_text` appears."""

    def __init__(self, name: str, argv: list[str], log: Path, ready_text: str, env: dict[str, str] | None = None):
        self.name, self.argv, self.log, self.ready_text = name, argv, log, ready_text
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                            start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.ready_text in self.log.read_text(errors="replace"):
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise SystemExit(f"{self.name} did not start; its output:\n{self.log.read_text(errors='replace')[-3000:]}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User + system time of the process, all its threads."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def memory_kb(self) -> dict[str, int]:
        found = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
        return found

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@dataclass
class Measured:
    """One loadgen run: its JSON result, and the servers' CPU use during the measured interval."""

    label: str
    command: list[str]
    result: dict[str, Any]
    server_cpu_percent: dict[str, float] = field(default_factory=dict)
    load_before: str = ""
    attempts: int = 1
    window: tuple[float, float] = (0.0, 0.0)  # the measured interval, Unix time


def loadgen(label: str, args: list[str], servers: dict[str, Service], work: Path, during: Any = None,
            quiet_percent: float | None = 10.0, prepare: Any = None, attempts: int = 3) -> Measured:
    """Run bench/loadgen.py send ARGS once the machine is quiet, again (up to `attempts` in all) when other
    programs took more than OTHERS_LIMIT percent of a core meanwhile. `prepare()` runs just before each start (TOTP
    codes are made then: they are good for a minute, once); `during(event)` runs at the start and end of the
    measured interval ((c) reads the proxy's memory then)."""
    for attempt in range(1, attempts + 1):
        measured = _loadgen_once(label, args, servers, work, during, quiet_percent, prepare)
        measured.attempts = attempt
        others = measured.server_cpu_percent.get("others", 0.0)
        if others <= OTHERS_LIMIT:
            break
        print(f"  ({label}: other programs used {others:.0f}% of a core meanwhile; "
              + ("again)" if attempt < attempts else "keeping it)"), flush=True)
    return measured


def _loadgen_once(label: str, args: list[str], servers: dict[str, Service], work: Path, during: Any,
                  quiet_percent: float | None, prepare: Any) -> Measured:
    command = [sys.executable, str(LOADGEN), "send", *args, "--wait-for-go"]
    if quiet_percent is not None:
        settle(servers, quiet_percent)
    if prepare is not None:
        prepare()
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=work)
    samples: dict[str, dict[str, float]] = {}
    load_before = ""

    def watch() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            try:
                event = json.loads(line)["event"]
            except (ValueError, KeyError, TypeError):
                sys.stderr.write(line)
                continue
            if event == "ready":  # requests built: wait for quiet again (building took a while), then go
                nonlocal load_before
                if quiet_percent is not None:
                    settle(servers, quiet_percent, longest=20 if prepare is not None else 60)  # TOTP: 30 s
                load_before = load_average()
                assert process.stdin is not None
                process.stdin.write("go\n")
                process.stdin.flush()
                continue
            if event == "measure_start" and PROFILE["dir"] is not None:
                start_profiles(label, servers, float(args[args.index("--seconds") + 1]))
            samples[event] = {name: server.cpu_seconds() for name, server in servers.items()}
            samples[event]["_wall"] = time.monotonic()
            samples[event]["_machine"] = busy_cpu_seconds()
            samples[event]["_time"] = time.time()
            if during is not None:
                during(event)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert process.stdout is not None
    output = process.stdout.read()  # not communicate(): the watcher owns standard error
    process.wait(timeout=600)
    watcher.join(timeout=5)
    if process.returncode != 0:
        raise SystemExit(f"loadgen failed ({process.returncode}): {' '.join(command)}")
    result = json.loads(output)
    cpu = {}
    if "measure_start" in samples and "measure_end" in samples:
        start, end = samples["measure_start"], samples["measure_end"]
        wall = end["_wall"] - start["_wall"]
        cpu = {name: round(100 * (end[name] - start[name]) / wall, 1) for name in servers}
        # whatever else ran meanwhile: the machine's busy time less the servers' and the generator's
        machine = 100 * (end["_machine"] - start["_machine"]) / wall
        cpu["others"] = round(machine - sum(cpu.values()) - result["generator_cpu_percent"], 1)
    shown = ["bench/loadgen.py" if part == str(LOADGEN) else part for part in command[1:-1]]
    window = (samples["measure_start"]["_time"], samples["measure_end"]["_time"]) if cpu else (0.0, 0.0)
    return Measured(label, [".venv/bin/python", *shown], result, cpu, load_before, window=window)


PROFILE: dict[str, Any] = {"dir": None, "spies": []}


def start_profiles(label: str, servers: dict[str, Service], seconds: float) -> None:
    """--profile: py-spy samples each server (Python stacks, without pausing it) for the measured interval."""
    slug = "".join(c if c.isalnum() else "-" for c in label).strip("-").lower()
    for name, server in servers.items():
        if name in ("proxy", "mfa"):
            out = PROFILE["dir"] / f"{slug}.{name}.txt"
            PROFILE["spies"].append((out, subprocess.Popen(
                [shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"), "record", "--nonblocking",
                 "-r", "100", "-d", str(int(seconds)), "-f", "raw", "-o", str(out), "-p", str(server.pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))


def profile_summary(path: Path, top: int = 12) -> list[tuple[float, str]]:
    """The functions with the most samples in a py-spy raw file, callees included, leaving out the chain of
    frames every sample shares (the event loop and the command's entry point)."""
    inclusive: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        total += int(count)
        for frame in set(stack.split(";")):
            inclusive[frame] = inclusive.get(frame, 0) + int(count)
    if not inclusive:
        return []
    everywhere = 0.97 * max(inclusive.values())
    ranked = sorted(inclusive.items(), key=lambda item: -item[1])
    return [(round(100 * n / total, 1), frame) for frame, n in ranked if n < everywhere][:top]


def busy_cpu_seconds() -> float:
    """CPU time spent by everything on the machine, all cores (from /proc/stat)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def settle(servers: dict[str, Service], quiet_percent: float, others_percent: float = 15.0,
           longest: float = 180.0) -> None:
    """Wait until the servers are nearly idle (one run's backlog must not spill into the next) and nothing else
    on the machine is busy (the other users of this machine: their load would land on one run and not the other)."""
    deadline = time.monotonic() + longest
    while time.monotonic() < deadline:
        before = {name: server.cpu_seconds() for name, server in servers.items()}
        machine_before, started = busy_cpu_seconds(), time.monotonic()
        time.sleep(1.0)
        wall = time.monotonic() - started
        ours = {name: 100 * (server.cpu_seconds() - before[name]) / wall for name, server in servers.items()}
        others = 100 * (busy_cpu_seconds() - machine_before) / wall - sum(ours.values())
        if max(ours.values()) < quiet_percent and others < others_percent:
            return
    print(f"  (the machine did not settle in {longest:.0f} s; measuring anyway)", flush=True)


def row(measured: Measured, peer: Measured | None = None) -> str:
    r = measured.result
    ratio = f"{r['replies_per_second'] / peer.result['replies_per_second']:.2f}x" if peer else ""
    cpu = " ".join(f"{name} {value:.0f}%" for name, value in measured.server_cpu_percent.items())
    lost = r["timeouts"] + r["unanswered"] + r["bad"] + r["backlogged"]
    p50, p99 = (r["latency_ms"].get(q, float("nan")) for q in ("p50", "p99"))
    return (f"  {measured.label:<34} {r['replies_per_second']:>9,.0f}/s {ratio:>6}  p50 {p50:>7.2f}"
            f"  p99 {p99:>7.2f} ms  acc {r['accept']:>7} rej {r['reject']:>5} lost {lost:>5}"
            f"  gen {r['generator_cpu_percent']:>3.0f}%  {cpu}  load {measured.load_before}")


# --- the system under test --------------------------------------------------------------------------------

class Stack:
    """The MFA service with one integration and its users, the proxy in front of it, FreeRADIUS beside it."""

    def __init__(self, work: Path, need_freeradius: bool, gc_trace: bool = False, fips: Path | None = None):
        self.work = work
        self.gc_trace = gc_trace
        self.fips = fips  # a FIPS provider (tests/fips_provider.py's directory): a second proxy in FIPS mode
        self.mfa_port = free_port(socket.SOCK_STREAM)
        self.proxy_port = free_port(socket.SOCK_DGRAM)
        self.proxy_http_port = free_port(socket.SOCK_STREAM)
        self.fips_proxy_port = free_port(socket.SOCK_DGRAM)
        self.fips_proxy_http_port = free_port(socket.SOCK_STREAM)
        self.fips_listening: dict[str, Any] = {}
        self.freeradius_port = free_port(socket.SOCK_DGRAM)
        self.need_freeradius = need_freeradius
        self.services: dict[str, Service] = {}
        self.admin: Any = None
        self.users: list[tuple[str, str]] = []  # (username, TOTP secret), every one with a push-capable device

    def start(self, user_count: int) -> None:
        data = self.work / "mfaservice"
        mfa = Service("mfa", [sys.executable, "-m", "duomfa", "mfa", "serve", "--data", str(data), "--port",
                              str(self.mfa_port), "--push-timeout", "600", "--lockout-threshold", "0"],
                      self.work / "mfa.log", "listening on")
        self.services["mfa"] = mfa.start()
        from duomfa.mfaservice.admin import Admin

        self.admin = Admin(data)
        app = self.admin.add_app("bench")
        started = time.monotonic()
        for number in range(user_count):
            created = self.admin.add_user(f"user{number:05d}", totp=True, push=True, phone=None)
            secret = urllib.parse.parse_qs(urllib.parse.urlsplit(created["totp_uri"]).query)["secret"][0]
            self.users.append((created["username"], secret))
        self.user_seconds = time.monotonic() - started
        def proxy_config(name: str, port: int, http_port: int, fips_mode: bool) -> Path:
            config = self.work / f"{name}.cfg"
            config.write_text("\n".join([
                "[main]", "debug = false", f"fips_mode = {'true' if fips_mode else 'false'}", "",
                "[radius_server_duo_only]",
                f"ikey = {app['ikey']}", f"skey = {app['skey']}", f"api_host = {app['api_host']}",
                f"ca_certs = {app['ca_cert']}",
                "interface = 127.0.0.1", f"port = {port}",
                "http_interface = 127.0.0.1", f"http_port = {http_port}",
                "radius_ip_1 = 127.0.0.1", f"radius_secret_1 = {SECRET}",
                f"exempt_username_1 = {EXEMPT_USER}",
                "failmode = secure", "require_message_authenticator = yes",
                "api_timeout = 10", "push_wait_seconds = 600", "",
            ]))
            return config

        config = proxy_config("proxy", self.proxy_port, self.proxy_http_port, fips_mode=False)
        launcher = ["-m", "duomfa"]
        if self.gc_trace:
            launcher = [str(BENCH / "gc_trace.py"), "--log", str(self.work / "gc-proxy.jsonl"), "--min-ms", "5"]
        proxy = Service("proxy", [sys.executable, *launcher, "proxy", "-c", str(config)],
                        self.work / "proxy.log", '"event":"listening"')
        self.services["proxy"] = proxy.start()
        if self.fips is not None:
            config = proxy_config("proxy-fips", self.fips_proxy_port, self.fips_proxy_http_port, fips_mode=True)
            fips_env = {"OPENSSL_CONF": str(self.fips / "openssl.cnf"),
                        "OPENSSL_MODULES": str(self.fips / "ossl-modules")}
            fips_proxy = Service("proxy-fips", [sys.executable, "-m", "duomfa", "proxy", "-c", str(config)],
                                 self.work / "proxy-fips.log", '"event":"listening"', env=fips_env)
            self.services["proxy-fips"] = fips_proxy.start()
            listening = next(json.loads(line) for line in (self.work / "proxy-fips.log").read_text().splitlines()
                             if '"event":"listening"' in line)
            if not listening.get("fips_mode"):
                raise SystemExit(f"the FIPS proxy did not start in FIPS mode: {listening}")
            self.fips_listening = listening
        if self.need_freeradius:
            freeradius = Service(
                "freeradius", ["freeradius", "-f", "-d", str(FREERADIUS_DIR), "-l", "stdout"],
                self.work / "freeradius.log", "Ready to process requests",
                env={"DUOMFA_BENCH_PORT": str(self.freeradius_port), "DUOMFA_BENCH_SECRET": SECRET})
            self.services["freeradius"] = freeradius.start()

    def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()
        if self.admin is not None:
            self.admin.close()

    def proxy_metric(self, name: str) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.proxy_http_port}/metrics", timeout=10) as response:
            for line in response.read().decode().splitlines():
                if line.startswith((name + " ", name + "{")):
                    return float(line.split()[-1])
        return 0.0

    def gc_pauses(self, window: tuple[float, float]) -> dict[str, float] | None:
        """--gc-trace: the proxy's collections of 5 ms or more that ended within `window` (Unix time)."""
        log = self.work / "gc-proxy.jsonl"
        if not self.gc_trace or not log.exists():
            return None
        found = [json.loads(line) for line in log.read_text().splitlines()]
        found = [entry for entry in found if window[0] <= entry["time"] <= window[1]]
        return {"count": len(found), "full": sum(1 for entry in found if entry["generation"] == 2),
                "longest_ms": max((entry["ms"] for entry in found), default=0.0),
                "total_ms": round(sum(entry["ms"] for entry in found), 1)}

    def proxy_answered(self) -> float:
        """Access-Accepts and Access-Rejects the proxy has sent, by its own /metrics."""
        return (self.proxy_metric('duomfa_radius_requests_total{result="accept"}')
                + self.proxy_metric('duomfa_radius_requests_total{result="reject"}'))

    def proxy_log_count(self, needle: str) -> int:
        with (self.work / "proxy.log").open("rb") as log:
            return sum(1 for line in log if needle.encode() in line)


class UserPool:
    """Users not yet used for a passcode: a TOTP code counts once per user and time step."""

    def __init__(self, users: list[tuple[str, str]]):
        self._users = users
        self._next = 0

    def codes_file(self, path: Path, count: int) -> Path:
        taken = self._users[self._next:self._next + count]
        if len(taken) < count:
            raise SystemExit(f"out of users for passcodes: give --passcode-users more than {len(self._users)}")
        self._next += count
        return credentials_file(path, totp_codes(taken))

    @property
    def left(self) -> int:
        return len(self._users) - self._next


def credentials_file(path: Path, pairs: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f"{user}\t{password}\n" for user, password in pairs))
    return path


def totp_codes(users: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each user's TOTP code for now: accepted for 30-60 s (one step of drift), once per user."""
    from duomfa.mfaservice import otp

    now = time.time()
    return [(user, otp.totp_now(secret, at=now)) for user, secret in users]


# --- the benchmarks -----------------------------------------------------------------------------------------

def bench_exempt(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    common = ["--secret", SECRET, "--user", EXEMPT_USER, "--password", EXEMPT_PASSWORD,
              "--window", str(args.window), "--seconds", str(args.seconds)]
    servers = {name: stack.services[name] for name in ("freeradius", "proxy", "proxy-fips") if name in stack.services}
    runs: dict[str, list[Measured]] = {name: [] for name in servers}
    logged_before = stack.proxy_log_count('"event":"auth"')
    answered_before = stack.proxy_answered()
    for _ in range(args.rounds):  # interleaved, so a neighbour's load hits all alike
        runs["freeradius"].append(loadgen("(a) FreeRADIUS 3.2 files+PAP", [
            "--port", str(stack.freeradius_port), *common], servers, stack.work))
        runs["proxy"].append(loadgen("(a) proxy, exempt user", [
            "--port", str(stack.proxy_port), "--require-message-authenticator", *common], servers, stack.work))
        if "proxy-fips" in servers:
            runs["proxy-fips"].append(loadgen("(a) proxy in FIPS mode, exempt user", [
                "--port", str(stack.fips_proxy_port), "--require-message-authenticator", *common], servers,
                stack.work))
    time.sleep(0.5)  # the proxy flushes its log every 0.1 s
    logged = stack.proxy_log_count('"event":"auth"') - logged_before
    answered_by_proxy = stack.proxy_answered() - answered_before
    best = {name: max(found, key=lambda m: m.result["replies_per_second"]) for name, found in runs.items()}
    rate = {name: measured.result["replies_per_second"] for name, measured in best.items()}
    return {"runs": runs, "best": best, "ratio": rate["proxy"] / rate["freeradius"],
            "fips_ratio": rate["proxy-fips"] / rate["proxy"] if "proxy-fips" in rate else None,
            "proxy_auth_log_lines": logged, "proxy_replies": answered_by_proxy}


def bench_generator(args: argparse.Namespace, work: Path) -> Measured:
    """The generator against an echo peer: how fast it can go when the peer costs almost nothing."""
    port = free_port(socket.SOCK_DGRAM)
    peer = Service("echo", [sys.executable, str(LOADGEN), "echo", "--port", str(port)], work / "echo.log",
                   '"echo"').start()
    try:
        return loadgen("generator vs echo peer", [
            "--port", str(port), "--secret", SECRET, "--user", EXEMPT_USER, "--password", EXEMPT_PASSWORD,
            "--window", str(args.window), "--seconds", str(args.seconds), "--echo",
            "--prebuild", str(int(90_000 * (args.seconds + 1)))],  # enough not to build any while measuring
            {"echo": peer}, work)
    finally:
        peer.stop()


def bench_passcodes(stack: Stack, args: argparse.Namespace, pool: UserPool) -> dict[str, Any]:
    servers = {"proxy": stack.services["proxy"], "mfa": stack.services["mfa"]}
    common = ["--port", str(stack.proxy_port), "--secret", SECRET, "--require-message-authenticator", "--once",
              "--seconds", str(args.seconds), "--timeout", "5"]

    def per_run(rate: float) -> int:  # users one attempt may log in
        return int(rate * (args.seconds + 1) * 1.1) + 2000

    runs = {}
    saturated = stack.work / "passcodes-saturated.tsv"
    runs["saturated"] = loadgen(f"(b) passcodes, window {args.passcode_window}", [
        "--credentials", str(saturated), "--window", str(args.passcode_window), *common], servers, stack.work,
        prepare=lambda: pool.codes_file(saturated, per_run(args.passcode_capacity_guess)))
    capacity = runs["saturated"].result["replies_per_second"]
    rates = [GOAL_LOGINS_PER_SECOND]
    if capacity < GOAL_LOGINS_PER_SECOND:
        rates.append(int(capacity * 0.8) // 50 * 50)  # latency at a load the system can carry
    for rate in rates:
        pairs = stack.work / f"passcodes-rate-{rate}.tsv"
        runs[f"rate {rate}"] = loadgen(f"(b) passcodes at {rate}/s", [
            "--credentials", str(pairs), "--rate", str(rate), "--window", "2000", *common], servers, stack.work,
            prepare=lambda pairs=pairs, rate=rate: pool.codes_file(pairs, per_run(rate)))
    return {"runs": runs, "capacity": capacity}


def bench_pushes(stack: Stack, args: argparse.Namespace, users: list[tuple[str, str]],
                 pool: UserPool) -> dict[str, Any]:
    proxy = stack.services["proxy"]
    servers = {"proxy": proxy, "mfa": stack.services["mfa"]}
    memory_idle = proxy.memory_kb()
    pushes = credentials_file(stack.work / "pushes.tsv", [(user, "push") for user, _ in users])
    started = time.monotonic()
    # sent at a pace the MFA service keeps up with, on 40 sockets (256 outstanding Identifiers each), never
    # retransmitted; the loadgen leaves while they are still pending (the proxy does not need the client to stay)
    sender = subprocess.Popen(
        [sys.executable, str(LOADGEN), "send", "--port", str(stack.proxy_port), "--secret", SECRET,
         "--credentials", str(pushes), "--once", "--rate", str(args.push_rate), "--window", str(len(users)),
         "--warmup", "0", "--seconds", str(len(users) / args.push_rate + 5), "--timeout", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # the proxy while the pushes pour in (the sender's own CPU shows as "others" here)
    time.sleep(3)
    during_ramp = loadgen(f"(c) exempt at {args.probe_rate:g}/s, pushes arriving", [
        "--port", str(stack.proxy_port), "--secret", SECRET, "--user", EXEMPT_USER, "--password", EXEMPT_PASSWORD,
        "--require-message-authenticator", "--rate", str(args.probe_rate), "--window", "1000",
        "--seconds", str(args.probe_seconds), "--timeline"], servers, stack.work, quiet_percent=None, attempts=1)
    sender_output, sender_errors = sender.communicate(timeout=600)
    if sender.returncode != 0:
        raise SystemExit(f"push sender failed: {sender_errors[-2000:]}")
    pending, last_change, previous = 0.0, time.monotonic(), -1.0
    while time.monotonic() - last_change < 15:  # until all are pending, or the count stops moving
        pending = stack.proxy_metric("duomfa_pending_pushes")
        if pending >= len(users):
            break
        if pending != previous:
            previous, last_change = pending, time.monotonic()
        time.sleep(0.5)
    ramp_seconds = time.monotonic() - started
    # one long-poll period (the MFA service's --long-poll, 15 s) and more: the ramp's own work is over, and the
    # long-polls it started have come back and been sent again, as they keep doing while the pushes wait
    time.sleep(args.push_settle)
    rejected_meanwhile = stack.proxy_metric("duomfa_radius_requests_total{result=\"reject\"}")
    memory: dict[str, dict[str, int]] = {}

    def sample(event: str) -> None:
        memory[event] = proxy.memory_kb()

    probe = loadgen(f"(c) exempt at {args.probe_rate:g}/s, {int(pending)} pending", [
        "--port", str(stack.proxy_port), "--secret", SECRET, "--user", EXEMPT_USER, "--password", EXEMPT_PASSWORD,
        "--require-message-authenticator", "--rate", str(args.probe_rate), "--window", "1000",
        "--seconds", str(args.probe_seconds), "--timeline"], servers, stack.work, during=sample, quiet_percent=60)
    pending_after = stack.proxy_metric("duomfa_pending_pushes")
    passcode_probe = None
    if args.passcode_probe_rate:
        pairs = stack.work / "passcodes-during-pushes.tsv"
        passcode_probe = loadgen(f"(c) passcodes at {args.passcode_probe_rate:g}/s, pushes pending", [
            "--port", str(stack.proxy_port), "--secret", SECRET, "--credentials", str(pairs), "--once",
            "--require-message-authenticator", "--rate", str(args.passcode_probe_rate), "--window", "1000",
            "--seconds", str(args.probe_seconds), "--timeout", "5", "--timeline"], servers, stack.work,
            during=sample, quiet_percent=60,
            prepare=lambda: pool.codes_file(pairs, int(args.passcode_probe_rate * (args.probe_seconds + 2))))
    return {"gc_pauses": {"during_ramp": stack.gc_pauses(during_ramp.window), "probe": stack.gc_pauses(probe.window),
                          "passcode_probe": stack.gc_pauses(passcode_probe.window) if passcode_probe else None},
            "pushes": len(users), "pending": pending, "pending_after_probe": pending_after,
            "ramp_seconds": round(ramp_seconds, 1), "sender": json.loads(sender_output), "during_ramp": during_ramp,
            "rejects_before_probe": rejected_meanwhile, "memory_idle_kb": memory_idle,
            "memory_kb": memory, "probe": probe, "passcode_probe": passcode_probe,
            "mfa_memory_kb": stack.services["mfa"].memory_kb()}


# --- machine facts and the report ---------------------------------------------------------------------------

def machine_facts() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.machine())
    freeradius = "not installed"
    if shutil.which("freeradius"):
        first = subprocess.run(["freeradius", "-v"], check=False, capture_output=True, text=True).stdout.splitlines()
        freeradius = first[0].split("Version", 1)[1].split(",")[0].strip() if first else "?"
    yardstick = min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6
    return {"cpus": os.cpu_count(), "cpu_model": model, "load_average": load_average(),
            "python": platform.python_version(), "uvloop": version("uvloop"), "aiohttp": version("aiohttp"),
            "freeradius": freeradius, "kernel": platform.release(),
            "yardstick_sum_range_1000_us": round(yardstick, 1)}


def summary(measured: Measured) -> dict[str, Any]:
    return {"label": measured.label, "command": " ".join(measured.command), "load_before": measured.load_before,
            "attempts": measured.attempts, "server_cpu_percent": measured.server_cpu_percent, **measured.result}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="a,b,c", help="which benchmarks, e.g. a or a,c (default a,b,c)")
    parser.add_argument("--seconds", type=float, default=5.0, help="each measured run (default 5)")
    parser.add_argument("--rounds", type=int, default=2, help="(a): alternating runs per server (default 2)")
    parser.add_argument("--window", type=int, default=100, help="(a): requests outstanding (default 100)")
    parser.add_argument("--passcode-window", type=int, default=100, help="(b): requests outstanding (default 100)")
    parser.add_argument("--passcode-users", type=int, default=50_000,
                        help="(b), (c): users with a TOTP device, each logging in once; a run that is repeated "
                             "(other programs were busy) takes new ones (default 50,000)")
    parser.add_argument("--passcode-capacity-guess", type=float, default=1500,
                        help="(b): logins a second the saturated run may reach: it gets codes for that many")
    parser.add_argument("--push-rate", type=float, default=300, help="(c): pushes sent per second (default 300)")
    parser.add_argument("--push-settle", type=float, default=20,
                        help="(c): seconds between the last push and the probes (default 20: > one long-poll)")
    parser.add_argument("--probe-seconds", type=float, default=10,
                        help="(c): each probe's measured interval (default 10)")
    parser.add_argument("--probe-rate", type=float, default=500,
                        help="(c): exempt requests per second while the pushes are pending (default 500)")
    parser.add_argument("--passcode-probe-rate", type=float, default=200,
                        help="(c): passcode logins per second while the pushes are pending (default 200)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, configs)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="record the proxy and the MFA service with py-spy (pip install py-spy) during every "
                             "measured run, into DIR, and print where the time went")
    parser.add_argument("--gc-trace", action="store_true",
                        help="run the proxy under bench/gc_trace.py and report its garbage-collection pauses in (c)")
    parser.add_argument("--json", type=Path, help="also write the JSON summary to this file")
    parser.add_argument("--fips", type=Path, metavar="DIR",
                        help="(a): also measure a second proxy with fips_mode = true, under the OpenSSL FIPS provider "
                             "in DIR (its openssl.cnf and ossl-modules/; `python tests/fips_provider.py` builds one "
                             "and prints where)")
    args = parser.parse_args()
    wanted = set(args.only.split(","))

    facts = machine_facts()
    print(f"machine: {facts['cpus']} x {facts['cpu_model']}, load {facts['load_average']}, Python {facts['python']}, "
          f"uvloop {facts['uvloop']}, FreeRADIUS {facts['freeradius']}, "
          f"yardstick sum(range(1000)) {facts['yardstick_sum_range_1000_us']} us", flush=True)
    work = Path(tempfile.mkdtemp(prefix="duomfa-bench-"))
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
        PROFILE["dir"] = args.profile
    users_needed = max(args.passcode_users if wanted & {"b", "c"} else 0, PUSH_USERS if "c" in wanted else 0, 1)
    stack = Stack(work, need_freeradius="a" in wanted, gc_trace=args.gc_trace,
                  fips=args.fips.expanduser() if args.fips and "a" in wanted else None)
    report: dict[str, Any] = {"machine": facts, "work": str(work)}
    try:
        stack.start(users_needed)
        print(f"stack up: {len(stack.users)} users in {stack.user_seconds:.0f} s; work directory {work}", flush=True)
        pool = UserPool(stack.users)  # for passcodes; the pushes of (c) reuse the last 10,000 users, no matter
        if "a" in wanted:
            generator = bench_generator(args, work)
            print(row(generator), flush=True)
            exempt = bench_exempt(stack, args)
            fips_runs = exempt["runs"].get("proxy-fips", [])
            for number, found in enumerate(zip(exempt["runs"]["freeradius"], exempt["runs"]["proxy"], strict=False)):
                print(row(found[0]), flush=True)
                print(row(found[1], found[0]), flush=True)
                if number < len(fips_runs):
                    print(row(fips_runs[number], found[1]), flush=True)
            report["a"] = {"generator_vs_echo": summary(generator),
                           "freeradius": [summary(m) for m in exempt["runs"]["freeradius"]],
                           "proxy": [summary(m) for m in exempt["runs"]["proxy"]],
                           "best_ratio": round(exempt["ratio"], 3),
                           "proxy_auth_log_lines": exempt["proxy_auth_log_lines"],
                           "proxy_replies": exempt["proxy_replies"]}
            if fips_runs:
                report["a"]["proxy_fips"] = [summary(m) for m in fips_runs]
                report["a"]["fips_listening"] = stack.fips_listening
                report["a"]["best_fips_ratio"] = round(exempt["fips_ratio"], 3)
                print(f"  (a) best FIPS-mode proxy / best proxy = {exempt['fips_ratio']:.2f}x "
                      f"(RADIUS MD5: {stack.fips_listening['radius_md5']}, {stack.fips_listening['fips_provider']})",
                      flush=True)
            print(f"  (a) best proxy / best FreeRADIUS = {exempt['ratio']:.2f}x (goal 0.5x); proxy auth log lines "
                  f"{exempt['proxy_auth_log_lines']} for {exempt['proxy_replies']:.0f} replies", flush=True)
        if "b" in wanted:
            passcodes = bench_passcodes(stack, args, pool)
            for measured in passcodes["runs"].values():
                print(row(measured), flush=True)
            report["b"] = {name: summary(m) for name, m in passcodes["runs"].items()}
        if "c" in wanted:
            pushes = bench_pushes(stack, args, stack.users[-PUSH_USERS:], pool)
            print(row(pushes["during_ramp"]), flush=True)
            print(row(pushes["probe"]), flush=True)
            if pushes["passcode_probe"] is not None:
                print(row(pushes["passcode_probe"]), flush=True)
            rss = max(sample["VmRSS"] for sample in pushes["memory_kb"].values())
            for name, pauses in pushes["gc_pauses"].items():
                if pauses is not None:
                    print(f"  (c) proxy GC pauses >= 5 ms during {name}: {pauses}", flush=True)
            print(f"  (c) {pushes['pending']:.0f} pushes pending after {pushes['ramp_seconds']} s; proxy RSS "
                  f"{rss / 1024:.0f} MB (idle {pushes['memory_idle_kb']['VmRSS'] / 1024:.0f} MB, goal 300 MB)",
                  flush=True)
            report["c"] = {**pushes, "probe": summary(pushes["probe"]), "during_ramp": summary(pushes["during_ramp"]),
                           "passcode_probe": summary(pushes["passcode_probe"]) if pushes["passcode_probe"] else None}
    finally:
        for out, spy in PROFILE["spies"]:
            spy.wait(timeout=60)
            if out.exists():
                print(f"profile {out}:")
                for share, frame in profile_summary(out):
                    print(f"  {share:5.1f}%  {frame}")
        stack.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    document = json.dumps(report, indent=2, default=str)
    if args.json:
        args.json.write_text(document + "\n")
    print(document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
