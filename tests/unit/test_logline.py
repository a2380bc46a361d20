"""One log-line format, two writers: the proxy's orjson writer and the control plane's standard-library one write
the same line; the MFA service's audit log too (and still reads lines written before `level` existed)."""

from __future__ import annotations

import io
import json

from duomfa.control import inline_support
from duomfa.logline import JsonLog
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
