"""The one JSON log-line format — time, level, event, then the event's fields — its orjson writer for the proxy and
the MFA service, and the names the stack's metric filters and alarms rely on. (The control plane writes the same
line with the standard library: duomfa.control.inline_support.log.)"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, BinaryIO

import orjson

FLUSH_BYTES = 64 * 1024
FLUSH_SECONDS = 0.1

# events and fields the CloudFormation stack reads (duomfa.infra.monitoring): renaming one breaks an alarm, so a
# test checks every metric filter in the templates against these
FAIL_OPEN = "fail_open"
DUO_FAULT_AFTER_PREAUTH = "duo_fault_after_preauth"
DUO_KEYS_MISSING = "duo_keys_missing"
DUO_ERROR = "duo_error"
SECRETS_SOURCE_ERROR = "secrets_source_error"
STATS = "stats"
STATS_DROPPED = "dropped"  # a field of the stats line: datagrams dropped in the interval
STACK_EVENTS = frozenset({FAIL_OPEN, DUO_FAULT_AFTER_PREAUTH, DUO_KEYS_MISSING, DUO_ERROR, SECRETS_SOURCE_ERROR, STATS})
STACK_FIELDS = frozenset({STATS_DROPPED})


def record(level: str, event: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"time": round(time.time(), 3), "level": level, "event": event, **fields}


def encode(entry: dict[str, Any]) -> bytes:
    """One line, newline included; anything JSON cannot hold is written as its str()."""
    return orjson.dumps(entry, default=str, option=orjson.OPT_APPEND_NEWLINE)


class JsonLog:
    """JSON lines on a stream (standard output by default), buffered and written in batches: at tens of thousands of
    requests a second, a write per line would cost more than the request. WARNING and ERROR lines go out at once.
    Nothing secret is ever passed in: no shared secret, skey or passcode."""

    def __init__(self, stream: BinaryIO | None = None, debug: bool = False):
        self.stream = stream if stream is not None else sys.stdout.buffer
        self.debug_enabled = debug
        self._buffer: list[bytes] = []
        self._size = 0
        self._flusher: asyncio.TimerHandle | None = None

    def _line(self, entry: dict[str, Any]) -> None:
        line = encode(entry)
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
        self._line(record("INFO", "auth", fields))

    def event(self, level: str, event: str, **fields: Any) -> None:
        self._line(record(level, event, fields))
        if level in ("WARNING", "ERROR"):
            self.flush()

    def debug(self, event: str, **fields: Any) -> None:
        if self.debug_enabled:
            self._line(record("DEBUG", event, fields))


_standard_output: JsonLog | None = None


def standard_output() -> JsonLog:
    """The process's writer on standard output, for code that was given none."""
    global _standard_output
    if _standard_output is None:
        _standard_output = JsonLog()
    return _standard_output
