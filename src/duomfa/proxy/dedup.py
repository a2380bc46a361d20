"""Retransmissions: a copy of a request still in flight joins it (one Duo call, one push); a copy that arrives after
the answer gets the same reply again, for a while. A copy is the same bytes from the same address and port (RFC 2865:
a client resending keeps the Identifier and Request Authenticator)."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_ANSWERED = 500_000  # bounds memory under a flood; the oldest answers are forgotten first
MAX_ANSWERED_BYTES = 64 * 1024 * 1024  # requests and replies kept, in octets: large packets must not outgrow it
NO_REPLY = b""  # the remembered outcome of a request that could not be answered: never sent, its copies dropped

RequestKey = tuple[str, int, int, bytes]  # client address, client port, identifier, request authenticator


class Retransmissions:
    def __init__(self, keep_seconds: float, clock: Callable[[], float] = time.monotonic,
                 max_entries: int = MAX_ANSWERED, max_bytes: int = MAX_ANSWERED_BYTES):
        self.keep_seconds = keep_seconds
        self.clock = clock
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.answered_bytes = 0
        self._in_flight: dict[RequestKey, tuple[bytes, asyncio.Future[bytes | None]]] = {}
        # answered requests in the order they were answered, which is also the order they expire in
        self._answered: OrderedDict[RequestKey, tuple[bytes, bytes, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._in_flight) + len(self._answered)

    def lookup(self, key: RequestKey, raw: bytes) -> asyncio.Future[bytes | None] | bytes | None:
        """The pending reply to join, or the reply to resend (NO_REPLY: none could be made), of an identical earlier
        request; else None."""
        in_flight = self._in_flight.get(key)
        if in_flight is not None:
            return in_flight[1] if in_flight[0] == raw else None
        answered = self._answered.get(key)
        if answered is not None and answered[0] == raw and answered[2] >= self.clock():
            return answered[1]
        return None

    def begin(self, key: RequestKey, raw: bytes) -> asyncio.Future[bytes | None]:
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = (raw, future)
        self._forget(key)
        return future

    def finish(self, key: RequestKey, future: asyncio.Future[bytes | None], reply: bytes | None) -> None:
        if not future.done():
            future.set_result(reply)
        in_flight = self._in_flight.get(key)
        if in_flight is not None and in_flight[1] is future:
            del self._in_flight[key]
            # no reply is an outcome too: a copy must not ask Duo again (another push, another passcode attempt)
            self.remember(key, in_flight[0], NO_REPLY if reply is None else reply)

    def remember(self, key: RequestKey, raw: bytes, reply: bytes) -> None:
        """Keep a reply (or NO_REPLY) so that retransmissions of its request get the same again."""
        if self.keep_seconds <= 0:
            return
        now = self.clock()
        answered = self._answered
        self._forget(key)
        answered[key] = (raw, reply, now + self.keep_seconds)
        self.answered_bytes += len(raw) + len(reply)
        while answered:
            oldest = next(iter(answered.values()))
            if oldest[2] >= now and len(answered) <= self.max_entries and self.answered_bytes <= self.max_bytes:
                break
            _, (old_raw, old_reply, _) = answered.popitem(last=False)
            self.answered_bytes -= len(old_raw) + len(old_reply)

    def _forget(self, key: RequestKey) -> None:
        entry = self._answered.pop(key, None)
        if entry is not None:
            self.answered_bytes -= len(entry[0]) + len(entry[1])
