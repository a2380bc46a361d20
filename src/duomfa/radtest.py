"""`duomfa radtest`: one Access-Request with Message-Authenticator, retransmitted like a real client, and the reply."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from duomfa import radius
from duomfa.radius.exchange import access_request
from duomfa.radius_udp import exchange_async

A = radius.constants
CODE_NAMES = {A.ACCESS_ACCEPT: "Access-Accept", A.ACCESS_REJECT: "Access-Reject",
              A.ACCESS_CHALLENGE: "Access-Challenge"}


@dataclass(frozen=True)
class RadtestResult:
    code: str | None  # None: no valid reply before the timeout
    reply_message: str | None
    rtt_ms: float
    attempts: int


async def radtest(username: str, factor: str, *, server: str = "127.0.0.1", port: int = 1812, secret: bytes,
                  timeout: float = 90.0, retry_interval: float = 10.0, nas_identifier: str = "duomfa-radtest",
                  calling_station_id: str | None = None) -> RadtestResult:
    """One Access-Request with Message-Authenticator, resent every `retry_interval` seconds for up to `timeout`."""
    attributes = [(A.NAS_IDENTIFIER, nas_identifier.encode("utf-8"))]
    if calling_station_id:
        attributes.append((A.CALLING_STATION_ID, calling_station_id.encode("utf-8")))
    request = access_request(username, factor, secret, attributes=attributes)
    attempts = max(1, math.ceil(timeout / retry_interval))
    started = time.monotonic()
    result = await exchange_async(request, server, port, timeout=min(retry_interval, timeout), attempts=attempts)
    elapsed_ms = round((time.monotonic() - started) * 1000, 1)
    if result.reply is None:
        return RadtestResult(None, None, elapsed_ms, result.attempts)
    reply = result.reply
    messages = b"".join(reply.get_all(A.REPLY_MESSAGE)).decode("utf-8", "replace") or None
    return RadtestResult(CODE_NAMES.get(reply.code, str(reply.code)), messages, elapsed_ms, result.attempts)
