"""Sending a RADIUS client request over UDP and waiting for its reply: a blocking exchange (standard library only,
for the Lambda functions) and an asyncio one. What counts as the reply is duomfa.radius.exchange's to decide."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass

from duomfa.radius.exchange import ClientRequest
from duomfa.radius.packet import Packet

# what came of an exchange
REPLY, SILENT, REFUSED, BAD_SIGNATURE = "reply", "silent", "refused", "bad_signature"


@dataclass(frozen=True)
class ExchangeResult:
    outcome: str  # REPLY, SILENT (nothing in time), REFUSED (ICMP port unreachable), BAD_SIGNATURE (a reply to us
    # that the secret did not sign: usually the server holds another shared secret)
    reply: Packet | None
    rtt: float  # seconds from the last send to the reply (0.0 without one)
    attempts: int


def _family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def exchange(request: ClientRequest, address: str, port: int, *, timeout: float = 1.0,
             attempts: int = 3) -> ExchangeResult:
    """Send, wait `timeout` seconds for the reply, resend; up to `attempts` sends. The socket is connected, so an
    ICMP port unreachable shows as REFUSED."""
    unsigned = False
    with socket.socket(_family(address), socket.SOCK_DGRAM) as sock:
        sock.connect((address, port))
        for attempt in range(1, attempts + 1):
            sent = time.perf_counter()
            ends = time.monotonic() + timeout
            try:
                sock.send(request.data)
                while (left := ends - time.monotonic()) > 0:
                    sock.settimeout(left)
                    datagram = sock.recv(4096)
                    reply = request.match(datagram)
                    if reply is not None:
                        return ExchangeResult(REPLY, reply, time.perf_counter() - sent, attempt)
                    unsigned = unsigned or request.is_for(datagram)
            except ConnectionRefusedError:
                return ExchangeResult(REFUSED, None, 0.0, attempt)
            except TimeoutError:
                continue
            except OSError:  # e.g. no route: as good as silence
                continue
    return ExchangeResult(BAD_SIGNATURE if unsigned else SILENT, None, 0.0, attempts)


class _Replies(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | OSError] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, OSError):
            self.queue.put_nowait(exc)


async def exchange_async(request: ClientRequest, address: str, port: int, *, timeout: float = 1.0,
                         attempts: int = 3) -> ExchangeResult:
    """exchange(), on the running event loop."""
    loop = asyncio.get_running_loop()
    transport, replies = await loop.create_datagram_endpoint(_Replies, remote_addr=(address, port),
                                                             family=_family(address))
    unsigned = False
    try:
        for attempt in range(1, attempts + 1):
            sent = time.perf_counter()
            ends = time.monotonic() + timeout
            transport.sendto(request.data)
            while (left := ends - time.monotonic()) > 0:
                try:
                    received = await asyncio.wait_for(replies.queue.get(), left)
                except TimeoutError:
                    break
                if isinstance(received, ConnectionRefusedError):
                    return ExchangeResult(REFUSED, None, 0.0, attempt)
                if isinstance(received, OSError):
                    continue
                reply = request.match(received)
                if reply is not None:
                    return ExchangeResult(REPLY, reply, time.perf_counter() - sent, attempt)
                unsigned = unsigned or request.is_for(received)
    finally:
        transport.close()
    return ExchangeResult(BAD_SIGNATURE if unsigned else SILENT, None, 0.0, attempts)
