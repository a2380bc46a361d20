"""A data directory written by the previous duomfa (schema version 1) is brought up to date when it is opened, its
pending and settled transactions kept; afterwards a transaction may have no user (an unknown user let through by
the new-user policy, answered through async /auth)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from duomfa.mfaservice.datadir import open_data_dir
from duomfa.mfaservice.store import SCHEMA_VERSION, Store, Transaction

# schema version 1's transactions table: user_id NOT NULL
V1_TRANSACTIONS = """
CREATE TABLE transactions (
    txid TEXT PRIMARY KEY,
    ikey TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    device_id TEXT REFERENCES devices (device_id) ON DELETE CASCADE,
    factor TEXT NOT NULL,
    result TEXT NOT NULL CHECK (result IN ('waiting', 'allow', 'deny')),
    status TEXT NOT NULL,
    status_msg TEXT NOT NULL,
    ipaddr TEXT NOT NULL DEFAULT '',
    pushinfo TEXT NOT NULL DEFAULT '',
    display_username TEXT NOT NULL DEFAULT '',
    login_type TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    decided_at REAL
)"""


def _transaction(txid: str, user_id: str | None, device_id: str | None, result: str = "waiting") -> Transaction:
    now = time.time()
    return Transaction(txid=txid, ikey="DI" + "X" * 18, user_id=user_id, device_id=device_id, factor="push",
                       result=result, status="pushed" if result == "waiting" else result, status_msg="…",
                       ipaddr="192.0.2.1", pushinfo="", display_username="", login_type="", created_at=now,
                       expires_at=now + 60, decided_at=None if result == "waiting" else now)


@pytest.fixture
def version_1_database(tmp_path: Path) -> tuple[Path, str, str]:
    """A database as the previous duomfa left it: a user with a device and a pending push."""
    database = open_data_dir(tmp_path / "mfa").database
    store = Store(database)
    user = store.add_user("alice")
    device = store.add_device(user.user_id, type="phone", name="Phone", can_push=True)
    store.close()
    db = sqlite3.connect(database, isolation_level=None)
    db.execute("BEGIN")
    db.execute("DROP TABLE transactions")
    db.execute(V1_TRANSACTIONS)
    db.execute("CREATE INDEX transactions_waiting ON transactions (device_id) WHERE result = 'waiting'")
    db.execute("INSERT INTO transactions VALUES (:txid, :ikey, :user_id, :device_id, :factor, :result, :status, "
               ":status_msg, :ipaddr, :pushinfo, :display_username, :login_type, :created_at, :expires_at, "
               ":decided_at)", _transaction("tx-old", user.user_id, device.device_id).__dict__)
    db.execute("PRAGMA user_version = 1")
    db.execute("COMMIT")
    db.close()
    return database, user.user_id, device.device_id


def test_opening_a_version_1_database_migrates_it_and_keeps_its_transactions(version_1_database):
    database, user_id, device_id = version_1_database
    store = Store(database)
    try:
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        kept = store.transaction("tx-old")
        assert kept is not None and (kept.user_id, kept.device_id, kept.result) == (user_id, device_id, "waiting")
        assert [t.txid for t in store.waiting_transactions(device_id=device_id)] == ["tx-old"]
        plan = store._db.execute("EXPLAIN QUERY PLAN SELECT * FROM transactions WHERE device_id = ? "
                                 "AND result = 'waiting'", (device_id,)).fetchall()
        assert any("transactions_waiting" in str(tuple(row)) for row in plan)
        store.add_transaction(_transaction("tx-unknown-user", None, None, result="allow"))
        assert store.transaction("tx-unknown-user").user_id is None
        store.remove_user(user_id)  # a user's transactions still go with the user
        assert store.transaction("tx-old") is None
        assert store.transaction("tx-unknown-user") is not None
        assert store._db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert store._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        store.close()


def test_a_version_1_database_refuses_a_transaction_without_a_user(version_1_database):
    # what the migration is for: the old table cannot hold an unknown user's decision
    database = version_1_database[0]
    db = sqlite3.connect(database)
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO transactions (txid, ikey, user_id, factor, result, status, status_msg, created_at, "
                   "expires_at) VALUES ('t', 'DI', NULL, 'push', 'allow', 'allow', '', 0, 0)")
    db.close()


def test_a_migrated_database_opens_again_without_migrating(version_1_database):
    database = version_1_database[0]
    Store(database).close()

    def schema_cookie() -> int:  # SQLite bumps it at every change of the schema
        db = sqlite3.connect(database)
        try:
            return db.execute("PRAGMA schema_version").fetchone()[0]
        finally:
            db.close()

    migrated = schema_cookie()
    Store(database).close()
    assert schema_cookie() == migrated
