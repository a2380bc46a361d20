"""The proxy's log: JSON lines on standard output, one per request, plus events (start, fail-open, errors).

Lines are buffered and written in batches: at tens of thousands of requests a second, a write per line would cost
more than the request. Nothing secret is ever passed in: no shared secret, skey or passcode.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, BinaryIO

import orjson

FLUSH_BYTES = 64 * 1024
FLUSH_SECONDS = 0.1


class JsonLog:
    def __init__(self, stream: BinaryIO | None = None, debug: bool = False):
        self.stream = stream if stream is not None else sys.stdout.buffer
        self.debug_enabled = debug
        self._buffer: list[bytes] = []
        self._size = 0
        self._flusher: asyncio.TimerHandle | None = None

    def _line(self, record: dict[str, Any]) -> None:
        # orjson: a third of the cost of json.dumps, and this is written once per request
        line = orjson.dumps(record, default=str, option=orjson.OPT_APPEND_NEWLINE)
        self._buffer.append(line)
        self._size += len(line)
        if self._size >= FLUSH_BYTES:
            self.flush()
        elif self._flusher is None:
            try:
                self._flusher = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)
            except RuntimeError:  # no loop (start-up, tests): write at once
                self.flush()

    def flush(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        if self._buffer:
            data = b"".join(self._buffer)
            self._buffer.clear()
            self._size = 0
            try:
                self.stream.write(data)
                self.stream.flush()
            except (OSError, ValueError):
                pass  # stdout closed: logging must never stop authentication

    def auth(self, **fields: Any) -> None:
        self._line({"time": round(time.time(), 3), "level": "INFO", "event": "auth", **fields})

    def event(self, level: str, event: str, **fields: Any) -> None:
        self._line({"time": round(time.time(), 3), "level": level, "event": event, **fields})
        if level in ("WARNING", "ERROR"):
            self.flush()

    def debug(self, event: str, **fields: Any) -> None:
        if self.debug_enabled:
            self._line({"time": round(time.time(), 3), "level": "DEBUG", "event": event, **fields})
