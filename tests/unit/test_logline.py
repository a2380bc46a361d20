"""One log-line format, two writers: the proxy's orjson writer and the control plane's standard-library one write
the same line; the MFA service's audit log too (and still reads lines written before `level` existed). The proxy's
copy of each line to syslog, over a real Unix datagram socket."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import time

import pytest

from duomfa.control import inline_support
from duomfa.logline import JsonLog, SyslogSink
from duomfa.mfaservice.auditlog import AuditLog


def test_both_writers_write_the_same_line(monkeypatch):
    stream = io.BytesIO()
    JsonLog(stream).event("WARNING", "something", count=3, where="here", nothing=None)
    text = io.StringIO()
    monkeypatch.setattr(inline_support, "_log_stream", text)
    inline_support.log("something", "WARNING", count=3, where="here", nothing=None)
    ours, theirs = json.loads(stream.getvalue()), json.loads(text.getvalue())
    assert list(ours) == list(theirs) == ["time", "level", "event", "count", "where", "nothing"]
    assert {k: v for k, v in ours.items() if k != "time"} == {k: v for k, v in theirs.items() if k != "time"}


def test_the_audit_log_writes_the_same_line_and_reads_old_ones(tmp_path):
    path = tmp_path / "auth.jsonl"
    path.write_text('{"time": 1.5, "event": "auth", "username": "alice", "result": "allow"}\n')  # before `level`
    log = AuditLog(path)
    log.write("auth", username="bob", result="deny")
    old, new = list(log.read())
    assert old == {"time": 1.5, "event": "auth", "username": "alice", "result": "allow"}
    assert list(new)[:3] == ["time", "level", "event"] and (new["level"], new["username"]) == ("INFO", "bob")


@pytest.fixture
def syslog_daemon(tmp_path):
    """A Unix datagram socket where a syslog daemon would listen; short path: sun_path holds 108 bytes."""
    path = f"/tmp/duomfa-syslog-{os.getpid()}-{time.monotonic_ns()}.sock"
    daemon = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    daemon.bind(path)
    daemon.settimeout(2)
    yield path, daemon
    daemon.close()
    os.unlink(path)


SYSLOG_LINE = re.compile(rb"<(\d+)>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d duomfa\[(\d+)\]: (\{.*\})")


def test_each_line_also_goes_to_syslog_as_one_datagram_with_its_severity(syslog_daemon):
    path, daemon = syslog_daemon
    sink = SyslogSink(path, facility=4)  # LOG_AUTH
    assert sink.connect() is None
    stream = io.BytesIO()
    log = JsonLog(stream, syslog=sink)
    log.auth(username="alice", result="accept")
    log.event("WARNING", "fail_open", username="bob")
    log.event("ERROR", "duo_error", code=40101)
    log.flush()
    received = [SYSLOG_LINE.fullmatch(daemon.recv(65536)) for _ in range(3)]
    assert all(received)
    assert [int(m.group(1)) for m in received] == [4 * 8 + 6, 4 * 8 + 4, 4 * 8 + 3]
    assert {int(m.group(2)) for m in received} == {os.getpid()}
    assert [m.group(3) + b"\n" for m in received] == stream.getvalue().splitlines(keepends=True)  # the same lines


def test_no_syslog_socket_is_said_once_and_nothing_is_sent(tmp_path):
    sink = SyslogSink(str(tmp_path / "no-such-socket"), facility=1)
    assert sink.connect() == "No such file or directory"


def test_a_syslog_daemon_that_is_behind_or_gone_never_stops_logging(syslog_daemon, monkeypatch):
    path, daemon = syslog_daemon
    daemon.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sink = SyslogSink(path, facility=1)
    assert sink.connect() is None
    log = JsonLog(io.BytesIO(), syslog=sink)
    started = time.monotonic()
    for n in range(2000):  # nobody reads: the daemon's queue fills
        log.auth(username="alice", n=n, padding="x" * 200)
    assert time.monotonic() - started < 5 and sink.dropped > 0  # dropped, not blocked
    daemon.close()
    os.unlink(path)  # the daemon is gone
    monkeypatch.setattr(SyslogSink, "RECONNECT_SECONDS", 0.0)
    dropped = sink.dropped
    log.auth(username="carol")
    assert sink.dropped == dropped + 1
    back = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # it restarts: found again
    back.bind(path)
    back.settimeout(2)
    try:
        log.auth(username="dave")
        assert b'"username":"dave"' in back.recv(65536)
    finally:
        back.close()
