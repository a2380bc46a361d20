"""The one JSON log-line format — time, level, event, then the event's fields — its orjson writer for the proxy and
the MFA service, a copy of each line to the local syslog on request, and the names the stack's metric filters and
alarms rely on. (The control plane writes the same line with the standard library:
duomfa.control.inline_support.log.)"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
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

# events, fields and values the stack's saved Logs Insights queries read (duomfa.infra.saved_queries): a test runs
# the proxy and the control plane and checks each query's fields and values against their lines
EVENT, LEVEL = "event", "level"
AUTH = "auth"  # one per answered Access-Request
RESULT, REASON, USERNAME, CLIENT, FACTOR, DUO_STATUS = "result", "reason", "username", "client", "factor", "duo_status"
ACCEPT, REJECT = "accept", "reject"  # the values of result
PUSH_FACTORS = ("push", "phone")  # the factors that wait for the person
PUSH_REFUSALS = ("deny", "timeout", "fraud")  # Duo's status when the person said no, did not answer, or said fraud
DROP_NOTICE = "drop_notice"  # with reason and client; `first` on the first drop, then `count` once a minute
DROP_FIRST, DROP_COUNT = "first", "count"
# the control plane's lines (duomfa.control.inline_support.log): what each step found and what it did
ROTATION, DIRECTORY_UPDATER, ADDRESS_TRACKER = "rotation", "directory_updater", "address_tracker"
STEP, FOUND, DID = "step", "found", "did"
VERSION = "version"  # the rotation's lines: the secret version being rotated (the rotation's ClientRequestToken)
SECRET_VERSION = "secret_version"  # the address tracker's writes


def record(level: str, event: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"time": round(time.time(), 3), "level": level, "event": event, **fields}


def encode(entry: dict[str, Any]) -> bytes:
    """One line, newline included; anything JSON cannot hold is written as its str()."""
    return orjson.dumps(entry, default=str, option=orjson.OPT_APPEND_NEWLINE)


class SyslogSink:
    """Each line also as one datagram to the local syslog daemon, framed as syslog(3) frames it
    (`<PRI>Mmm dd hh:mm:ss duomfa[PID]: {json}`). Never blocks the event loop: a line the daemon has no room for is
    dropped and counted, and a daemon that went away is looked for again every few seconds."""

    SEVERITY = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3}
    RECONNECT_SECONDS = 5.0

    def __init__(self, address: str, facility: int, ident: str = "duomfa"):
        self.address = address
        self.facility = facility
        self.tag = f"{ident}[{os.getpid()}]: ".encode()
        self.dropped = 0
        self._socket: socket.socket | None = None
        self._retry_at = 0.0
        self._stamp_second = -1
        self._stamp = b""

    def connect(self) -> str | None:
        """None once connected; otherwise why not, in a few words."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.connect(self.address)
        except OSError as exc:
            sock.close()
            return exc.strerror or type(exc).__name__
        sock.setblocking(False)
        self._socket = sock
        return None

    def _reconnected(self) -> bool:
        if time.monotonic() < self._retry_at:
            return False
        if self.connect() is None:
            return True
        self._retry_at = time.monotonic() + self.RECONNECT_SECONDS
        return False

    def send(self, level: str, line: bytes) -> None:
        if self._socket is None and not self._reconnected():
            self.dropped += 1
            return
        assert self._socket is not None
        now = int(time.time())
        if now != self._stamp_second:
            self._stamp_second, self._stamp = now, time.strftime("%b %e %H:%M:%S ", time.localtime(now)).encode()
        priority = self.facility * 8 + self.SEVERITY.get(level, 6)
        try:
            self._socket.send(b"<%d>%s%s%s" % (priority, self._stamp, self.tag, line.rstrip(b"\n")))
        except BlockingIOError:  # the daemon is behind: losing a copy beats stalling logins
            self.dropped += 1
        except OSError as exc:
            self.dropped += 1
            if exc.errno != errno.EMSGSIZE:  # the daemon restarted or went away: find it again later
                self.close()
                self._retry_at = time.monotonic() + self.RECONNECT_SECONDS

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


class JsonLog:
    """JSON lines on a stream (standard output by default), buffered and written in batches: at tens of thousands of
    requests a second, a write per line would cost more than the request. WARNING and ERROR lines go out at once.
    Nothing secret is ever passed in: no shared secret, skey or passcode."""

    def __init__(self, stream: BinaryIO | None = None, debug: bool = False, syslog: SyslogSink | None = None):
        self.stream = stream if stream is not None else sys.stdout.buffer
        self.debug_enabled = debug
        self.syslog = syslog  # a copy of every line, as it is written
        self._buffer: list[bytes] = []
        self._size = 0
        self._flusher: asyncio.TimerHandle | None = None

    def _line(self, entry: dict[str, Any]) -> None:
        line = encode(entry)
        if self.syslog is not None:
            self.syslog.send(entry["level"], line)
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
        self._line(record("INFO", AUTH, fields))

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
