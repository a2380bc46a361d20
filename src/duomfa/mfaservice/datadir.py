"""The MFA service's data directory: what is in it, and refusing one that is not ours or is damaged."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

MARKER_NAME = "duomfa-mfaservice.json"
MARKER_KIND = "duomfa-mfaservice"
MARKER_FORMAT = 1


class DataDirError(Exception):
    """The data directory cannot be used; the message says why and what to do."""


def default_data_dir() -> Path:
    return platformdirs.user_data_path("duomfa") / "mfaservice"


@dataclass(frozen=True)
class DataDir:
    path: Path

    @property
    def database(self) -> Path:
        return self.path / "mfa.sqlite3"

    @property
    def ca_cert(self) -> Path:
        return self.path / "tls" / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.path / "tls" / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.path / "tls" / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.path / "tls" / "server.key"

    @property
    def auth_log(self) -> Path:
        return self.path / "logs" / "auth.jsonl"

    @property
    def admin_log(self) -> Path:
        return self.path / "logs" / "admin.jsonl"

    @property
    def marker(self) -> Path:
        return self.path / MARKER_NAME


def open_data_dir(path: Path | str | None, *, create: bool = True) -> DataDir:
    """Open DIR, creating it on first use; refuse a directory that holds something else."""
    data_dir = DataDir(Path(path) if path is not None else default_data_dir())
    root = data_dir.path
    if root.exists() and not root.is_dir():
        raise DataDirError(f"{root} is a file, not a directory; pass --data with a directory path")
    if data_dir.marker.exists():
        _check_marker(data_dir)
        return data_dir
    if root.exists() and any(root.iterdir()):
        raise DataDirError(
            f"{root} is not empty and is not a duomfa MFA service data directory (no {MARKER_NAME}); "
            "choose an empty or new directory with --data"
        )
    if not create:
        raise DataDirError(f"{root} holds no MFA service data yet; start it once with `duomfa mfa serve --data {root}`")
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    (root / "tls").mkdir(mode=0o700, exist_ok=True)
    (root / "logs").mkdir(mode=0o700, exist_ok=True)
    marker = {"kind": MARKER_KIND, "format": MARKER_FORMAT}
    tmp = data_dir.marker.with_suffix(".tmp")
    tmp.write_text(json.dumps(marker) + "\n")
    os.replace(tmp, data_dir.marker)
    return data_dir


def _check_marker(data_dir: DataDir) -> None:
    try:
        marker = json.loads(data_dir.marker.read_text())
    except (OSError, ValueError) as exc:
        raise DataDirError(f"{data_dir.marker} is unreadable or corrupt ({exc}); restore it from a backup") from exc
    if not isinstance(marker, dict) or marker.get("kind") != MARKER_KIND:
        raise DataDirError(f"{data_dir.marker} does not describe a duomfa MFA service data directory")
    if marker.get("format") != MARKER_FORMAT:
        raise DataDirError(
            f"{data_dir.path} has data format {marker.get('format')!r}; this duomfa reads format {MARKER_FORMAT}"
        )
