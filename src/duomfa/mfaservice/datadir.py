"""The MFA service's data directory: what is in it, refusing one that is not ours or is damaged, and keeping it
readable by its owner only.

Everything in it is private: the database holds every skey and TOTP seed, `tls/` the private keys, the logs who
logged in from where. So every directory is 0700 and every file 0600, whatever the umask and whatever the mode of
a directory handed over with --data; wider modes found when it is opened are narrowed, with a notice.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

MARKER_NAME = "duomfa-mfaservice.json"
# `duomfa up` keeps the MFA service's data in this subdirectory of its own; --data takes either directory
STACK_SERVICE_DIR = "mfaservice"
MARKER_KIND = "duomfa-mfaservice"
MARKER_FORMAT = 1
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700

# Where notices go (a mode narrowed, a device renamed): one line each, never holding a secret.
Notify = Callable[[str], None]


class DataDirError(Exception):
    """The data directory cannot be used; the message says why and what to do."""


def print_notice(message: str) -> None:
    """The default Notify: standard error, so that a command's --json output stays one JSON object."""
    print(f"duomfa: notice: {message}", file=sys.stderr, flush=True)


def open_private(path: Path, flags: int) -> int:
    """os.open for a file that must be 0600: a file this call creates gets exactly that, whatever the umask.

    An existing file keeps its mode (the data directory's check narrows it), so appends cost one system call.
    """
    try:
        return os.open(path, flags & ~(os.O_CREAT | os.O_EXCL))
    except FileNotFoundError:
        if not flags & os.O_CREAT:
            raise
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:  # created by another process meanwhile
        return os.open(path, flags & ~(os.O_CREAT | os.O_EXCL))
    os.fchmod(fd, PRIVATE_FILE_MODE)  # the umask may have taken bits away from 0600 too
    return fd


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` atomically with a 0600 file holding `data`."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)  # a leftover .tmp keeps its old mode through O_CREAT
        with os.fdopen(fd, "wb") as handle:
            fd = -1
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    finally:
        if fd != -1:
            os.close(fd)
    os.replace(tmp, path)


def make_private(root: Path, notify: Notify) -> None:
    """Narrow every directory under `root` (itself included) to 0700 and every file to 0600 when group or others
    have any access, telling `notify` about each one. Symbolic links are left alone: their targets are not ours."""
    _narrow(root, PRIVATE_DIR_MODE, notify)
    for directory, subdirectories, files in os.walk(root):
        for name in subdirectories:
            _narrow(Path(directory) / name, PRIVATE_DIR_MODE, notify)
        for name in files:
            _narrow(Path(directory) / name, PRIVATE_FILE_MODE, notify)


def _narrow(path: Path, private_mode: int, notify: Notify) -> None:
    try:
        status = os.lstat(path)
    except FileNotFoundError:  # removed meanwhile (SQLite's -shm, a .tmp being renamed)
        return
    if stat.S_ISLNK(status.st_mode):
        return
    old = stat.S_IMODE(status.st_mode)
    if old & 0o077:
        os.chmod(path, private_mode)
        notify(f"{path}: mode {old:04o} -> {private_mode:04o} (the MFA service's data is for its owner only)")


def default_stack_dir() -> Path:
    """Where `duomfa up` keeps its data when given no --data; the MFA service's is in it, as STACK_SERVICE_DIR."""
    return platformdirs.user_data_path("duomfa")


def default_data_dir() -> Path:
    """The MFA service's data when given no --data: the one `duomfa up` uses, so both see the same users."""
    return default_stack_dir() / STACK_SERVICE_DIR


def earlier_default_stack_dir() -> Path:
    """Where `duomfa up` kept its data by default before it shared the `duomfa mfa` commands' default."""
    return platformdirs.user_data_path("duomfa") / "stack"


def earlier_default_notice() -> str | None:
    """What to say when the earlier default location holds a stack's data, so that it is never silently left
    behind; None when it holds nothing."""
    earlier = earlier_default_stack_dir()
    if not (earlier / STACK_SERVICE_DIR / MARKER_NAME).exists():
        return None
    return (f"{earlier} holds the data of an earlier `duomfa up` (its default location before); the default is now "
            f"{default_stack_dir()}. To go on with the earlier data, pass --data {shlex.quote(str(earlier))}")


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
    def request_log(self) -> Path:
        return self.path / "logs" / "requests.jsonl"

    @property
    def marker(self) -> Path:
        return self.path / MARKER_NAME


def open_data_dir(path: Path | str | None, *, create: bool = True, notify: Notify = print_notice) -> DataDir:
    """Open DIR — the MFA service's own directory or the one `duomfa up` printed, which holds it — creating it on
    first use; refuse a directory that holds something else; make it private."""
    if path is None:
        earlier = earlier_default_notice()
        if earlier is not None:
            notify(earlier)
    data_dir = DataDir(service_dir(Path(path)) if path is not None else default_data_dir())
    root = data_dir.path
    if root.exists() and not root.is_dir():
        raise DataDirError(f"{root} is a file, not a directory; " + _what_to_pass(root))
    if data_dir.marker.exists():
        _check_marker(data_dir)
        make_private(root, notify)
        return data_dir
    if root.exists() and any(root.iterdir()):
        raise DataDirError(
            f"{root} is not empty and is not a duomfa MFA service data directory (no {MARKER_NAME}) nor the "
            f"directory of `duomfa up` (no {STACK_SERVICE_DIR}/{MARKER_NAME}); " + _what_to_pass(root)
        )
    holder = next((parent for parent in root.absolute().parents if (parent / MARKER_NAME).exists()), None)
    if holder is not None:  # e.g. its tls/ or logs/, still empty: a new service there would hide in the old one
        raise DataDirError(f"{root} is inside the MFA service data directory {holder}; " + _what_to_pass(root))
    if not create:
        raise DataDirError(f"{root} holds no MFA service data yet; start it once with `duomfa mfa serve --data {root}`")
    existed = root.exists()
    root.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    if existed:  # an empty directory handed over with --data: it becomes private, with a notice if it was not
        make_private(root, notify)
    else:
        os.chmod(root, PRIVATE_DIR_MODE)  # mkdir's mode goes through the umask
    for name in ("tls", "logs"):
        (root / name).mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
        os.chmod(root / name, PRIVATE_DIR_MODE)
    marker = {"kind": MARKER_KIND, "format": MARKER_FORMAT}
    write_private(data_dir.marker, (json.dumps(marker) + "\n").encode("utf-8"))
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


def service_dir(path: Path) -> Path:
    """The MFA service's own directory for a --data DIR: DIR itself, or its STACK_SERVICE_DIR when DIR is the
    directory `duomfa up` printed."""
    if not (path / MARKER_NAME).exists() and (path / STACK_SERVICE_DIR / MARKER_NAME).exists():
        return path / STACK_SERVICE_DIR
    return path


def _what_to_pass(path: Path) -> str:
    """The end of a refusal: the data directory the user probably meant (one that holds `path`, or one in it), else
    what --data takes."""
    candidates = [parent for parent in path.absolute().parents if (parent / MARKER_NAME).exists()
                  or (parent / STACK_SERVICE_DIR / MARKER_NAME).exists()][:1]
    if not candidates and path.is_dir():
        candidates = sorted(child for child in path.iterdir() if child.is_dir() and (
            (child / MARKER_NAME).exists() or (child / STACK_SERVICE_DIR / MARKER_NAME).exists()))[:3]
    if candidates:
        named = [_stack_or_service(candidate) for candidate in candidates]
        return "pass " + " or ".join(f"--data {shlex.quote(str(candidate))}" for candidate in named)
    return (f"pass --data with the directory `duomfa up` printed (\"data in …\", it holds {STACK_SERVICE_DIR}/), an "
            f"MFA service's own directory (it holds {MARKER_NAME}) or an empty or new directory; without --data, "
            f"duomfa uses {default_stack_dir()}")


def _stack_or_service(path: Path) -> Path:
    """A service directory that is a stack's STACK_SERVICE_DIR is named by the stack's directory, as `up` prints."""
    if path.name == STACK_SERVICE_DIR and (path / MARKER_NAME).exists():
        return path.parent
    return path
