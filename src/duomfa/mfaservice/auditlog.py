"""Authentication and admin logs: one JSON object per line, appended, never holding a passcode or key."""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from duomfa.logline import encode, record
from duomfa.mfaservice.datadir import open_private


class AuditLog:
    def __init__(self, path: Path, echo: TextIO | None = None):
        self.path = path
        self.echo = echo

    def write(self, event: str, level: str = "INFO", **fields: Any) -> dict[str, Any]:
        """One line in the proxy's format (lines written before it had `level` read as they are)."""
        entry = record(level, event, fields)
        line = encode(entry)
        # O_APPEND keeps lines from several processes whole.
        fd = open_private(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        if self.echo is not None:
            self.echo.write(line.decode("utf-8"))
            self.echo.flush()
        return entry

    def read(self) -> Iterator[dict[str, Any]]:
        try:
            handle = self.path.open(encoding="utf-8")
        except FileNotFoundError:
            return
        with handle:
            for number, line in enumerate(handle, start=1):
                line = line.strip()
                if not line:
                    continue
                try:
                    yield json.loads(line)
                except ValueError:
                    print(f"{self.path}:{number}: skipping a line that is not JSON", file=sys.stderr)


def operator() -> str:
    """Who ran an admin command, for the admin log."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"
