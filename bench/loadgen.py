"""An async UDP RADIUS load generator for the proxy's benchmarks: PAP Access-Requests, each with a fresh Request
Authenticator and a Message-Authenticator, built and checked with duomfa.radius; counts and latencies as JSON.

Two ways to offer load:
  --window N   closed loop: N requests outstanding at all times, a new one sent as each is answered or times out.
               With N well above what the server keeps busy, the server is saturated: this measures its capacity.
  --rate R     open loop: R requests a second whatever happens (still at most --window outstanding; what cannot be
               sent for lack of a free slot is counted as `backlogged`). This measures latency at a given load.

    .venv/bin/python bench/loadgen.py send --port 1812 --secret S --user svc-exempt --password push --seconds 5
    .venv/bin/python bench/loadgen.py send --port 1812 --secret S --credentials codes.tsv --once --rate 1500
    .venv/bin/python bench/loadgen.py echo --port 18999   # a peer that echoes datagrams (send --echo): the
                                                          # generator's own ceiling
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import json
import os
import resource
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from duomfa import radius

IDENTIFIERS = 256  # one octet: a socket can have at most this many requests outstanding
RANDOM_BATCH = 4096  # Request Authenticators drawn from the OS in one call, 16 octets each, never reused
SWEEP_SECONDS = 0.05  # how often timed-out requests are looked for
PACE_SECONDS = 0.001  # open-loop mode sends what is due this often
TIMELINE_SECONDS = 0.1  # --timeline: the slowest reply in each such slice of the interval
DEFAULT_PREBUILD_RATE = 50_000  # closed loop: build this many requests a second of the run beforehand


@dataclass
class Result:
    target: str
    mode: str  # "window" or "rate"
    window: int
    rate: float | None
    sockets: int
    seconds: float  # the measured interval, after the warm-up
    warmup: float
    sent: int = 0
    accept: int = 0
    reject: int = 0
    other_code: int = 0
    bad: int = 0  # replies that failed the authenticator checks, or were malformed
    late: int = 0  # replies that came after their request had timed out
    timeouts: int = 0
    unanswered: int = 0  # still outstanding when the run ended (after waiting one timeout for them)
    backlogged: int = 0  # open loop only: sends that were due but had no free slot
    exhausted: bool = False  # --once: the credentials ran out before the time did
    prebuilt: int = 0  # requests built before the run
    prebuild_seconds: float = 0.0
    built_during_run: int = 0  # requests built while running, when the prebuilt ones ran out (costs CPU)
    replies_per_second: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    generator_cpu_percent: float = 0.0  # of one core, during the measured interval
    udp_receive_errors: int = 0  # system-wide UDP InErrors during the run: datagrams the kernel dropped
    timeline_max_ms: list[float] | None = None  # --timeline: slowest reply arriving in each 100 ms


class Credentials:
    """Usernames and passwords to send: one pair for every request, or the lines of a file, in order."""

    def __init__(self, pairs: list[tuple[bytes, bytes]], once: bool):
        if not pairs:
            raise ValueError("no credentials")
        self.pairs = pairs
        self.once = once
        self._next: Iterator[tuple[bytes, bytes]] = iter(pairs) if once else itertools.cycle(pairs)

    @classmethod
    def from_file(cls, path: Path, once: bool) -> Credentials:
        pairs = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                user, _, password = line.partition("\t")
                pairs.append((user.encode("utf-8"), password.encode("utf-8")))
        return cls(pairs, once)

    def take(self) -> tuple[bytes, bytes] | None:
        return next(self._next, None)


class Authenticators:
    """Fresh Request Authenticators, fetched from os.urandom in batches: one getrandom call per 4,096 requests."""

    def __init__(self) -> None:
        self._pool = b""
        self._offset = 0

    def take(self) -> bytes:
        if self._offset >= len(self._pool):
            self._pool = os.urandom(16 * RANDOM_BATCH)
            self._offset = 0
        start = self._offset
        self._offset = start + 16
        return self._pool[start:start + 16]


class Run:
    """One run's shared state: what to send, the counters, and when the measured interval starts and ends."""

    def __init__(self, args: argparse.Namespace, credentials: Credentials):
        self.secret = args.secret.encode("utf-8")
        self.credentials = credentials
        self.echo = args.echo
        self.require_message_authenticator = args.require_message_authenticator
        self.timeout = args.timeout
        self.nas_attributes = [(radius.NAS_IP_ADDRESS, bytes([10, 0, 1, 25])),
                               (radius.NAS_IDENTIFIER, b"d-bench00001"),
                               (radius.CALLING_STATION_ID, b"198.51.100.23")]
        self.authenticators = Authenticators()
        self.sending = True
        self.measure_from = 0.0
        self.measure_until = 0.0
        self.counts = collections.Counter()
        self.latencies: list[float] = []
        self.timeline: dict[int, float] | None = {} if args.timeline else None
        self.exhausted = False

    def build(self, identifier: int) -> tuple[bytes, bytes] | None:
        """(request authenticator, datagram) for the next credentials, or None when they have run out."""
        pair = self.credentials.take()
        if pair is None:
            self.exhausted = True
            return None
        user, password = pair
        authenticator = self.authenticators.take()
        attributes = [(radius.USER_NAME, user),
                      (radius.USER_PASSWORD, radius.hide_user_password(password, self.secret, authenticator)),
                      *self.nas_attributes]
        return authenticator, radius.encode_request(radius.ACCESS_REQUEST, identifier, authenticator, attributes,
                                                    self.secret)

    def measuring(self, now: float) -> bool:
        return self.measure_from <= now < self.measure_until


COOLING = (0.0, b"", b"", False)  # a slot whose request timed out: a late reply may still come for it


class Client(asyncio.DatagramProtocol):
    """One UDP socket with up to 256 requests outstanding, one per Identifier, used in turn.

    Requests are built before the run where possible (`prebuilt`), so that building them (PAP hiding, the
    Message-Authenticator: the costly part of the generator's work) does not compete with the server for CPU.
    Each is still a distinct request with its own Request Authenticator; it only cannot change its Identifier, so a
    socket whose next Identifier is still busy waits for it.
    """

    def __init__(self, run: Run, quota: int, prebuilt: list[tuple[int, bytes, bytes]]):
        self.run = run
        self.quota = quota  # closed loop: requests this socket keeps outstanding
        self.prebuilt = collections.deque(prebuilt)  # (identifier, request authenticator, datagram)
        self.next_identifier = len(prebuilt) % IDENTIFIERS
        self.transport: asyncio.DatagramTransport | None = None
        # per Identifier: (sent at, request authenticator, datagram, sent in the measured interval), COOLING or None
        self.slots: list[tuple[float, bytes, bytes, bool] | None] = [None] * IDENTIFIERS
        self.cooling: collections.deque[tuple[float, int]] = collections.deque()  # (reusable at, identifier)
        self.outstanding = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send_one(self) -> bool:
        """Send the next request; False when its Identifier is busy or there is nothing (more) to send."""
        run = self.run
        if not run.sending:
            return False
        if self.prebuilt:
            identifier, authenticator, datagram = self.prebuilt[0]
            if self.slots[identifier] is not None:
                return False
            self.prebuilt.popleft()
        else:
            identifier = self.next_identifier
            if self.slots[identifier] is not None:
                return False
            built = run.build(identifier)
            if built is None:
                return False
            authenticator, datagram = built
            self.next_identifier = (identifier + 1) % IDENTIFIERS
            run.counts["built_during_run"] += 1
        now = time.perf_counter()
        counted = run.measure_from <= now < run.measure_until
        self.slots[identifier] = (now, authenticator, datagram, counted)
        self.outstanding += 1
        if counted:
            run.counts["sent"] += 1
        self.transport.sendto(datagram)  # type: ignore[union-attr]
        return True

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        now = time.perf_counter()
        run = self.run
        if len(data) < 20:
            run.counts["bad"] += 1
            return
        identifier = data[1]
        slot = self.slots[identifier]
        if slot is None or slot is COOLING:
            run.counts["late" if slot is COOLING else "bad"] += 1
            return
        sent_at, authenticator, datagram, _ = slot
        if run.echo:
            ok = data == datagram
            code = radius.ACCESS_ACCEPT
        else:
            try:
                code = radius.verify_reply(data, authenticator, run.secret,
                                           require_message_authenticator=run.require_message_authenticator).code
                ok = True
            except (radius.MalformedPacket, radius.BadReplyAuthenticator):
                ok = False
        if not ok:
            run.counts["bad"] += 1  # not a reply to this request: leave the request waiting
            return
        self.slots[identifier] = None
        self.outstanding -= 1
        if run.measure_from <= now < run.measure_until:  # throughput: replies that arrive in the interval
            counts = run.counts
            if code == radius.ACCESS_ACCEPT:
                counts["accept"] += 1
            elif code == radius.ACCESS_REJECT:
                counts["reject"] += 1
            else:
                counts["other_code"] += 1
            run.latencies.append(now - sent_at)
            if run.timeline is not None:
                bucket = int((now - run.measure_from) / TIMELINE_SECONDS)
                run.timeline[bucket] = max(run.timeline.get(bucket, 0.0), now - sent_at)
        if self.outstanding < self.quota:
            self.send_one()

    def sweep(self, now: float) -> None:
        """Time out requests older than the timeout; free Identifiers that have cooled off; top the window up."""
        run = self.run
        limit = now - run.timeout
        for identifier, slot in enumerate(self.slots):
            if slot is not None and slot is not COOLING and slot[0] < limit:
                self.slots[identifier] = COOLING
                self.outstanding -= 1
                self.cooling.append((now + run.timeout, identifier))
                if slot[3]:
                    run.counts["timeouts"] += 1
        while self.cooling and self.cooling[0][0] <= now:
            self.slots[self.cooling.popleft()[1]] = None
        while self.outstanding < self.quota and self.send_one():
            pass

    def error_received(self, exc: Exception) -> None:
        self.run.counts["send_errors"] += 1  # ICMP port unreachable: nobody listening (yet)


def announce(event: str) -> None:
    """A progress line on standard error, for a harness that samples the server while the interval runs."""
    print(json.dumps({"event": event, "time": time.time()}), file=sys.stderr, flush=True)


def udp_in_errors() -> int:
    """The kernel's count of UDP datagrams it could not deliver (full socket buffers, bad checksums), all sockets."""
    try:
        lines = Path("/proc/net/snmp").read_text().splitlines()
    except OSError:
        return 0
    rows = [line.split() for line in lines if line.startswith("Udp:")]
    if len(rows) < 2:
        return 0
    return int(dict(zip(rows[0][1:], rows[1][1:], strict=True))["InErrors"])


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def generate(args: argparse.Namespace, credentials: Credentials) -> Result:
    loop = asyncio.get_running_loop()
    run = Run(args, credentials)
    window = args.window
    sockets = args.sockets or max(1, -(-window // IDENTIFIERS))
    if window > sockets * IDENTIFIERS:
        raise SystemExit(f"--window {window} needs at least {-(-window // IDENTIFIERS)} sockets (256 ids each)")
    prebuild = args.prebuild if args.prebuild is not None else int(
        (args.rate or DEFAULT_PREBUILD_RATE) * (args.warmup + args.seconds) * 1.05)
    building = time.perf_counter()
    prebuilt: list[list[tuple[int, bytes, bytes]]] = [[] for _ in range(sockets)]
    for number in range(prebuild):
        queue = prebuilt[number % sockets]
        identifier = len(queue) % IDENTIFIERS
        built = run.build(identifier)
        if built is None:
            break
        queue.append((identifier, *built))
    build_seconds = time.perf_counter() - building

    clients: list[Client] = []
    for number in range(sockets):
        quota = window // sockets + (1 if number < window % sockets else 0)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
        sock.connect((args.server, args.port))  # connected: the kernel filters other senders, sendto is cheaper
        _, client = await loop.create_datagram_endpoint(
            lambda quota=quota, queue=prebuilt[number]: Client(run, 0 if args.rate else quota, queue), sock=sock)
        clients.append(client)  # type: ignore[arg-type]

    if args.wait_for_go:  # the harness checks that the machine is quiet, then says go
        announce("ready")
        await loop.run_in_executor(None, sys.stdin.readline)
    started = time.perf_counter()
    run.measure_from = started + args.warmup
    run.measure_until = run.measure_from + args.seconds
    errors_before = udp_in_errors()
    cpu_before: float | None = None

    per_socket_cap = -(-window // sockets)  # open loop: the most one socket may have outstanding
    next_sweep = started + SWEEP_SECONDS
    due, last_pace = 0.0, started
    turn = itertools.cycle(clients)
    if not args.rate:
        for client in clients:
            while client.outstanding < client.quota and client.send_one():
                pass
    while True:
        now = time.perf_counter()
        if cpu_before is None and now >= run.measure_from:
            cpu_before = resource.getrusage(resource.RUSAGE_SELF)
            cpu_before = cpu_before.ru_utime + cpu_before.ru_stime
            announce("measure_start")
        if now >= run.measure_until:
            break
        if run.exhausted and not any(c.prebuilt for c in clients):
            run.sending = False  # --once, and every line has been sent
            if not any(c.outstanding for c in clients):
                break
        if args.rate and run.sending:
            due += args.rate * (now - last_pace)
            last_pace = now
            tried = 0
            while due >= 1 and run.sending:
                client = next(turn)
                if client.outstanding < per_socket_cap and client.send_one():
                    due -= 1
                    tried = 0
                    continue
                tried += 1
                if tried >= sockets:  # every socket is full: the server is behind
                    if run.measuring(now):
                        run.counts["backlogged"] += int(due)
                    due -= int(due)
                    break
        if now >= next_sweep:
            for client in clients:
                client.sweep(now)
            next_sweep = now + SWEEP_SECONDS
        await asyncio.sleep(PACE_SECONDS if args.rate else SWEEP_SECONDS)

    ended = time.perf_counter()
    announce("measure_end")
    exhausted = not run.sending
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_after = cpu_after.ru_utime + cpu_after.ru_stime
    measured = min(ended, run.measure_until) - run.measure_from
    run.sending = False
    # let the last requests come back (they count as unanswered otherwise, not as throughput)
    drain_until = time.perf_counter() + args.timeout
    while any(c.outstanding for c in clients) and time.perf_counter() < drain_until:
        await asyncio.sleep(0.01)
    for client in clients:
        run.counts["unanswered"] += sum(1 for slot in client.slots if slot is not None and slot[3])
        client.prebuilt.clear()
        client.transport.close()  # type: ignore[union-attr]

    ordered = sorted(run.latencies)
    result = Result(
        target=f"{args.server}:{args.port}", mode="rate" if args.rate else "window", window=window,
        rate=args.rate, sockets=sockets, seconds=round(measured, 3), warmup=args.warmup,
        exhausted=exhausted, prebuilt=sum(len(q) for q in prebuilt), prebuild_seconds=round(build_seconds, 2),
        udp_receive_errors=udp_in_errors() - errors_before,
        generator_cpu_percent=round(100 * (cpu_after - (cpu_before or cpu_after)) / measured, 1) if measured > 0
        else 0.0,
    )
    for name in ("sent", "accept", "reject", "other_code", "bad", "late", "timeouts", "unanswered", "backlogged",
                 "built_during_run"):
        setattr(result, name, run.counts[name])
    answered = result.accept + result.reject + result.other_code
    result.replies_per_second = round(answered / measured, 1) if measured > 0 else 0.0
    if ordered:  # (no replies: no latencies, rather than NaN, which is not JSON)
        result.latency_ms = {name: round(percentile(ordered, q) * 1000, 3)
                             for name, q in (("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("p999", 0.999))}
        result.latency_ms["max"] = round(ordered[-1] * 1000, 3)
    if run.timeline is not None:
        slices = int(measured / TIMELINE_SECONDS + 0.5)
        result.timeline_max_ms = [round(run.timeline.get(i, 0.0) * 1000, 1) for i in range(slices)]
    return result


class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data, addr)  # type: ignore[attr-defined]


async def echo(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    sock.bind((args.server, args.port))
    await loop.create_datagram_endpoint(Echo, sock=sock)
    print(json.dumps({"echo": sock.getsockname()[1]}), flush=True)
    await asyncio.Event().wait()


def run_loop(main) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    send = commands.add_parser("send", help="send Access-Requests and count what comes back")
    send.add_argument("--server", default="127.0.0.1")
    send.add_argument("--port", type=int, required=True)
    send.add_argument("--secret", required=True)
    who = send.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="one username for every request (with --password)")
    who.add_argument("--credentials", type=Path, help="a file of `username<TAB>password` lines, sent in order")
    send.add_argument("--password", default="", help="with --user: the PAP password (the MFA code field)")
    send.add_argument("--once", action="store_true",
                      help="with --credentials: each line once (passcodes are one-time), then stop sending")
    send.add_argument("--window", type=int, default=100, help="requests outstanding (default 100)")
    send.add_argument("--rate", type=float, help="requests per second (open loop) instead of a fixed window")
    send.add_argument("--sockets", type=int, default=0, help="UDP sockets (default: enough for --window)")
    send.add_argument("--seconds", type=float, default=5.0, help="measured interval (default 5)")
    send.add_argument("--warmup", type=float, default=1.0, help="seconds sent but not counted first (default 1)")
    send.add_argument("--timeout", type=float, default=2.0, help="seconds before a request counts as timed out")
    send.add_argument("--require-message-authenticator", action="store_true",
                      help="count a reply without Message-Authenticator as bad (the proxy always sends one; "
                           "FreeRADIUS 3.2.1 never does)")
    send.add_argument("--prebuild", type=int,
                      help="requests to build before the run (default: --rate, or 50,000/s, x the run's length)")
    send.add_argument("--wait-for-go", action="store_true",
                      help="after building the requests, say ready on standard error and wait for a line on "
                           "standard input")
    send.add_argument("--timeline", action="store_true", help="report the slowest reply in every 100 ms")
    send.add_argument("--echo", action="store_true", help="the peer is `loadgen.py echo`: a reply is the request")
    echo_parser = commands.add_parser("echo", help="echo every datagram back: the generator's own ceiling")
    echo_parser.add_argument("--server", default="127.0.0.1")
    echo_parser.add_argument("--port", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "echo":
        with contextlib.suppress(KeyboardInterrupt):
            run_loop(echo(args))
        return 0
    if args.user is not None:
        credentials = Credentials([(args.user.encode("utf-8"), args.password.encode("utf-8"))], once=False)
    else:
        credentials = Credentials.from_file(args.credentials, once=args.once)
    results: list[Result] = []

    async def go() -> None:
        results.append(await generate(args, credentials))

    run_loop(go())
    print(json.dumps(asdict(results[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
