"""The data directory refuses what is not ours or is damaged, with a message that says so; it never resets; and
it is its owner's only."""

import os
import sqlite3
import stat

import pytest
from cryptography import x509

from duomfa.mfaservice.auditlog import AuditLog
from duomfa.mfaservice.datadir import DataDirError, open_data_dir
from duomfa.mfaservice.store import SCHEMA_VERSION, Store
from duomfa.mfaservice.tls import ensure_server_cert, server_names


def test_first_open_creates_the_directory_and_reopening_keeps_data(tmp_path):
    data_dir = open_data_dir(tmp_path / "mfa")
    store = Store(data_dir.database)
    store.add_integration("vpn")
    store.close()
    again = Store(open_data_dir(tmp_path / "mfa").database)
    assert [i.name for i in again.integrations()] == ["vpn"]
    assert again._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_foreign_non_empty_directory_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DataDirError, match="not a duomfa MFA service data directory"):
        open_data_dir(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_corrupt_marker_is_refused(tmp_path):
    data_dir = open_data_dir(tmp_path / "mfa")
    data_dir.marker.write_text("{not json")
    with pytest.raises(DataDirError, match="corrupt"):
        open_data_dir(tmp_path / "mfa")


def test_garbage_database_is_refused_and_left_alone(tmp_path):
    data_dir = open_data_dir(tmp_path / "mfa")
    data_dir.database.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(DataDirError, match="not a usable duomfa database"):
        Store(data_dir.database)
    assert data_dir.database.read_bytes().startswith(b"this is not sqlite")


def test_someone_elses_sqlite_database_is_refused(tmp_path):
    data_dir = open_data_dir(tmp_path / "mfa")
    other = sqlite3.connect(data_dir.database)
    other.execute("CREATE TABLE t (x)")
    other.commit()
    other.close()
    with pytest.raises(DataDirError, match="did not create"):
        Store(data_dir.database)


def test_newer_schema_is_refused(tmp_path):
    data_dir = open_data_dir(tmp_path / "mfa")
    Store(data_dir.database).close()
    db = sqlite3.connect(data_dir.database)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(DataDirError, match="schema version"):
        Store(data_dir.database)


def test_server_certificate_names_the_address_as_dns_and_ip(tmp_path):
    data_dir = open_data_dir(tmp_path / "mfa")
    ensure_server_cert(data_dir, server_names("127.0.0.1"))
    cert = x509.load_pem_x509_certificate(data_dir.server_cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "127.0.0.1"} <= set(san.get_values_for_type(x509.DNSName))
    assert "127.0.0.1" in {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    first = data_dir.server_cert.read_bytes()
    ensure_server_cert(data_dir, server_names("127.0.0.1"))
    assert data_dir.server_cert.read_bytes() == first  # kept across restarts
    ensure_server_cert(data_dir, server_names("mfa.lab.example"))
    cert = x509.load_pem_x509_certificate(data_dir.server_cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "mfa.lab.example" in san.get_values_for_type(x509.DNSName)


def _modes(root):
    """{path relative to root: mode} for root and everything under it."""
    found = {".": stat.S_IMODE(os.lstat(root).st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(os.lstat(path).st_mode)
    return found


@pytest.fixture
def open_umask():
    old = os.umask(0)
    yield
    os.umask(old)


def test_a_handed_over_directory_and_everything_created_in_it_are_private_whatever_the_umask(tmp_path, open_umask):
    root = tmp_path / "mfa"
    root.mkdir(mode=0o755)
    notices = []
    data_dir = open_data_dir(root, notify=notices.append)
    assert notices == [f"{root}: mode 0755 -> 0700 (the MFA service's data is for its owner only)"]
    store = Store(data_dir.database, notify=notices.append)
    store.add_integration("vpn")  # writes the WAL and the shared-memory index
    ensure_server_cert(data_dir, server_names("127.0.0.1"))
    AuditLog(data_dir.auth_log).write("test")
    modes = _modes(root)
    assert {"mfa.sqlite3", "mfa.sqlite3-wal", "mfa.sqlite3-shm", "tls/ca.key", "tls/server.key", "tls/ca.pem",
            "logs/auth.jsonl", "duomfa-mfaservice.json"} <= set(modes)
    assert modes == {path: 0o700 if (root / path).is_dir() else 0o600 for path in modes}
    store.close()
    assert len(notices) == 1


def test_wider_modes_found_on_opening_are_narrowed_once_with_a_notice(tmp_path):
    root = tmp_path / "mfa"
    data_dir = open_data_dir(root)
    ensure_server_cert(data_dir, server_names("127.0.0.1"))
    data_dir.ca_key.chmod(0o644)
    data_dir.auth_log.write_text("")
    data_dir.auth_log.chmod(0o664)
    (root / "tls").chmod(0o755)
    notices = []
    open_data_dir(root, notify=notices.append)
    assert sorted(notices) == sorted([
        f"{data_dir.ca_key}: mode 0644 -> 0600 (the MFA service's data is for its owner only)",
        f"{data_dir.auth_log}: mode 0664 -> 0600 (the MFA service's data is for its owner only)",
        f"{root / 'tls'}: mode 0755 -> 0700 (the MFA service's data is for its owner only)",
    ])
    assert stat.S_IMODE(data_dir.ca_key.stat().st_mode) == 0o600
    again = []
    open_data_dir(root, notify=again.append)
    assert again == []


def test_a_foreign_directory_is_refused_before_its_modes_are_touched(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir(mode=0o755)
    (foreign / "notes.txt").write_text("mine")
    (foreign / "notes.txt").chmod(0o644)
    with pytest.raises(DataDirError):
        open_data_dir(foreign, notify=pytest.fail)
    assert _modes(foreign) == {".": 0o755, "notes.txt": 0o644}
