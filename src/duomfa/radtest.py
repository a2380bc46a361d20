"""`duomfa radtest`: one Access-Request with Message-Authenticator, retransmitted like a real client, and the reply."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass

from duomfa import radius

A = radius.constants
CODE_NAMES = {A.ACCESS_ACCEPT: "Access-Accept", A.ACCESS_REJECT: "Access-Reject",
              A.ACCESS_CHALLENGE: "Access-Challenge"}


@dataclass(frozen=True)
class RadtestResult:
    code: str | None  # None: no valid reply before the timeout
    reply_message: str | None
    rtt_ms: float
    attempts: int


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.replies.put_nowait(data)


async def radtest(username: str, factor: str, *, server: str = "127.0.0.1", port: int = 1812, secret: bytes,
                  timeout: float = 90.0, retry_interval: float = 10.0, nas_identifier: str = "duomfa-radtest",
                  calling_station_id: str | None = None) -> RadtestResult:
    authenticator = radius.new_request_authenticator()
    identifier = int.from_bytes(authenticator[:1], "big")
    attributes = [
        (A.USER_NAME, username.encode("utf-8")),
        (A.USER_PASSWORD, radius.hide_user_password(factor.encode("utf-8"), secret, authenticator)),
        (A.NAS_IDENTIFIER, nas_identifier.encode("utf-8")),
    ]
    if calling_station_id:
        attributes.append((A.CALLING_STATION_ID, calling_station_id.encode("utf-8")))
    packet = radius.encode_request(A.ACCESS_REQUEST, identifier, authenticator, attributes, secret,
                                   message_authenticator=True)
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    transport, receiver = await loop.create_datagram_endpoint(_Receiver, remote_addr=(server, port), family=family)
    started = time.monotonic()
    attempts = 0
    try:
        while time.monotonic() - started < timeout:
            transport.sendto(packet)
            attempts += 1
            wait = min(retry_interval, timeout - (time.monotonic() - started))
            wait_until = time.monotonic() + wait
            while (remaining := wait_until - time.monotonic()) > 0:
                try:
                    data = await asyncio.wait_for(receiver.replies.get(), remaining)
                except asyncio.TimeoutError:
                    break
                try:
                    reply = radius.verify_reply(data, authenticator, secret)
                except (radius.MalformedPacket, radius.BadReplyAuthenticator):
                    continue  # not a reply to us, or forged: keep waiting
                if reply.identifier != identifier:
                    continue
                messages = b"".join(reply.get_all(A.REPLY_MESSAGE)).decode("utf-8", "replace") or None
                return RadtestResult(CODE_NAMES.get(reply.code, str(reply.code)), messages,
                                     round((time.monotonic() - started) * 1000, 1), attempts)
    finally:
        transport.close()
    return RadtestResult(None, None, round((time.monotonic() - started) * 1000, 1), attempts)
