"""A UDP forwarder that behaves like an internal Network Load Balancer's UDP listener, as AWS documents it
(docs/redeploy.md, "What the load balancer does"): one address the directory lists; each flow (source address
and port) hashed to one healthy target and kept there while it is not idle; a deregistered target ("draining")
gets no new flows but keeps its existing ones until the deregistration delay ends, when they are cut if connection
termination is on (the UDP default) or else left on the gone target until they idle out; the client's address
preserved (always on for UDP target groups)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

INITIAL, HEALTHY, DRAINING = "initial", "healthy", "draining"


@dataclass(frozen=True)
class TargetGroupAttributes:
    deregistration_delay: float  # deregistration_delay.timeout_seconds: draining → unused
    connection_termination: bool  # deregistration_delay.connection_termination.enabled
    flow_idle_timeout: float  # UDP flow state is dropped after this long without a packet (120 s on AWS)


@dataclass
class _Flow:
    target: str
    last_seen: float


@dataclass
class _Upstream:
    """The forwarder's socket for one client (address, port) towards one target: replies come back on it."""

    target: str
    sock: socket.socket
    last_seen: float


@dataclass
class BalancerCounts:
    flows: int = 0
    forwarded: int = 0
    replies: int = 0
    no_healthy_target: int = 0
    cut_flows: int = 0
    to_gone_target: int = 0
    targets_seen: dict[str, int] = field(default_factory=dict)


class LocalNetworkLoadBalancer(asyncio.DatagramProtocol):
    """Listens on `listen`; targets are addresses on `target_port`. With `one_flow_per_client_address`, every
    packet from one client address is one flow (as if the client always sent from the same source port): the
    stickiest case."""

    def __init__(self, listen: tuple[str, int], target_port: int, attributes: TargetGroupAttributes, *,
                 one_flow_per_client_address: bool = False, clock: Callable[[], float] = time.monotonic):
        self.listen, self.target_port, self.attributes = listen, target_port, attributes
        self.one_flow_per_client_address = one_flow_per_client_address
        self.clock = clock
        self.targets: dict[str, str] = {}  # address → INITIAL / HEALTHY / DRAINING; absent once unused
        self.counts = BalancerCounts()
        self._flows: dict[object, _Flow] = {}
        self._upstreams: dict[tuple[str, int], _Upstream] = {}
        self._transport: asyncio.DatagramTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeper: asyncio.Task[None] | None = None

    # --- the target group, as ECS drives it --------------------------------------------------------------------

    def register(self, address: str) -> None:
        """RegisterTargets: the target gets flows once its health checks pass (`mark_healthy`)."""
        self.targets[address] = INITIAL

    def mark_healthy(self, address: str) -> None:
        if self.targets.get(address) == INITIAL:
            self.targets[address] = HEALTHY

    def is_healthy(self, address: str) -> bool:
        return self.targets.get(address) == HEALTHY

    def deregister(self, address: str) -> None:
        """DeregisterTargets: no new flows from now on; existing flows carry on for the deregistration delay."""
        if address in self.targets:
            self.targets[address] = DRAINING

    def finish_deregistration(self, address: str) -> None:
        """The deregistration delay is over: the target is unused. Its flows are cut with connection termination
        (their next packet is balanced again; a reply still on its way is lost), else left pointing at it."""
        self.targets.pop(address, None)
        if not self.attributes.connection_termination:
            return
        for key, flow in list(self._flows.items()):
            if flow.target == address:
                del self._flows[key]
                self.counts.cut_flows += 1
        for client, upstream in list(self._upstreams.items()):
            if upstream.target == address:
                self._close(client)

    async def deregister_and_wait(self, address: str) -> None:
        self.deregister(address)
        await asyncio.sleep(self.attributes.deregistration_delay)
        self.finish_deregistration(address)

    # --- the listener ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._loop.create_datagram_endpoint(lambda: self, local_addr=self.listen)
        self._sweeper = asyncio.create_task(self._sweep())

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for client in list(self._upstreams):
            self._close(client)
        if self._transport is not None:
            self._transport.close()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        client = (addr[0], addr[1])
        now = self.clock()
        key: object = client[0] if self.one_flow_per_client_address else client
        flow = self._flows.get(key)
        if flow is not None and now - flow.last_seen > self.attributes.flow_idle_timeout:
            flow = None  # idle too long: the next packet is a new flow
        if flow is None:
            healthy = sorted(address for address, state in self.targets.items() if state == HEALTHY)
            if not healthy:
                self.counts.no_healthy_target += 1
                return
            flow = _Flow(healthy[zlib.crc32(repr(key).encode()) % len(healthy)], now)
            self._flows[key] = flow
            self.counts.flows += 1
            self.counts.targets_seen[flow.target] = self.counts.targets_seen.get(flow.target, 0) + 1
        flow.last_seen = now
        if flow.target not in self.targets:
            self.counts.to_gone_target += 1  # only without connection termination: sent on, to nobody
        upstream = self._upstreams.get(client)
        if upstream is None or upstream.target != flow.target:
            if upstream is not None:
                self._close(client)
            upstream = self._open(client, flow.target)
        upstream.last_seen = now
        with contextlib.suppress(OSError):  # a gone target: the packet is lost, as it would be in the VPC
            upstream.sock.send(data)
            self.counts.forwarded += 1

    def _open(self, client: tuple[str, int], target: str) -> _Upstream:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind((client[0], 0))  # the target sees the client's address (client IP preservation)
        sock.connect((target, self.target_port))
        upstream = _Upstream(target, sock, self.clock())
        self._upstreams[client] = upstream
        assert self._loop is not None
        self._loop.add_reader(sock.fileno(), self._reply, client, upstream)
        return upstream

    def _reply(self, client: tuple[str, int], upstream: _Upstream) -> None:
        try:
            data = upstream.sock.recv(65535)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # ICMP "port unreachable" from a stopped proxy: nothing goes back to the client
            return
        upstream.last_seen = self.clock()
        if self._transport is not None and self._upstreams.get(client) is upstream:
            self._transport.sendto(data, client)
            self.counts.replies += 1

    def _close(self, client: tuple[str, int]) -> None:
        upstream = self._upstreams.pop(client, None)
        if upstream is not None:
            if self._loop is not None:
                self._loop.remove_reader(upstream.sock.fileno())
            upstream.sock.close()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.attributes.flow_idle_timeout / 4)
            now = self.clock()
            for key, flow in list(self._flows.items()):
                if now - flow.last_seen > self.attributes.flow_idle_timeout:
                    del self._flows[key]
            for client, upstream in list(self._upstreams.items()):
                if now - upstream.last_seen > self.attributes.flow_idle_timeout:
                    self._close(client)
