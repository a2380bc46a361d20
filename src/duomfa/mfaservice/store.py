"""SQLite store of the MFA service: integrations, users, devices, one-time codes and push transactions.

One connection per process, WAL mode, so the service and admin commands in other processes can write at once.
Every write is one short IMMEDIATE transaction: concurrent requests never see half an update.

synchronous=FULL syncs the WAL at every commit: a used-up one-time code stays used after a power loss
(docs/mfaservice.md, "Durable one-time codes").
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import sqlite3
import string
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from duomfa.mfaservice.datadir import DataDirError, Notify, open_private, print_notice

APPLICATION_ID = 0x64756F6D  # "duom": tells our database from any other SQLite file
SCHEMA_VERSION = 2  # 2: a transaction may have no user (an unknown user let through by the new-user policy)
BUSY_TIMEOUT_SECONDS = 10.0  # how long a write waits for another process's write lock before it fails
_ID_ALPHABET = string.ascii_uppercase + string.digits
# How versions before this one named a hardware token: the last four hex digits of its seed.
_SEED_TAIL_NAME = re.compile(r"HOTP token ([0-9A-Fa-f]{4})")

SCHEMA = """
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE integrations (
    ikey TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    skey TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    status TEXT NOT NULL CHECK (status IN ('active', 'bypass', 'disabled')),
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_out INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE TABLE devices (
    device_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    type TEXT NOT NULL CHECK (type IN ('phone', 'token')),
    name TEXT NOT NULL,
    number TEXT NOT NULL DEFAULT '',
    can_push INTEGER NOT NULL DEFAULT 0,
    can_phone INTEGER NOT NULL DEFAULT 0,
    can_sms INTEGER NOT NULL DEFAULT 0,
    totp_secret TEXT,
    totp_last_step INTEGER NOT NULL DEFAULT -1,
    hotp_secret TEXT,
    hotp_counter INTEGER NOT NULL DEFAULT 0,
    page_token TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
);
CREATE INDEX devices_by_user ON devices (user_id);
CREATE TABLE bypass_codes (
    user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    code TEXT NOT NULL,
    created_at REAL NOT NULL,
    used_at REAL,
    PRIMARY KEY (user_id, code)
);
CREATE TABLE sms_codes (
    device_id TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    code TEXT NOT NULL,
    sent_at REAL NOT NULL,
    used_at REAL,
    PRIMARY KEY (device_id, code)
);
CREATE TABLE transactions (
    txid TEXT PRIMARY KEY,
    ikey TEXT NOT NULL,
    user_id TEXT REFERENCES users (user_id) ON DELETE CASCADE,
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
);
CREATE INDEX transactions_waiting ON transactions (device_id) WHERE result = 'waiting';
-- Every decision appends a row, so a service can notice decisions made by other processes (admin commands).
CREATE TABLE decisions (seq INTEGER PRIMARY KEY AUTOINCREMENT, txid TEXT NOT NULL);
CREATE TABLE activations (
    activation_code TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    device_id TEXT
);
"""




def _schema_statement(prefix: str) -> str:
    """The statement of SCHEMA that starts with `prefix`: a migration creates a table as a new database has it."""
    return next(statement.strip() for statement in SCHEMA.split(";") if statement.strip().startswith(prefix))


def _migrate_1_to_2(db: sqlite3.Connection) -> None:
    """transactions.user_id becomes nullable. SQLite cannot change a column's constraints: rebuild the table (foreign
    keys are still off here; nothing references transactions)."""
    db.execute("ALTER TABLE transactions RENAME TO transactions_v1")
    db.execute("DROP INDEX IF EXISTS transactions_waiting")
    db.execute(_schema_statement("CREATE TABLE transactions"))
    db.execute("INSERT INTO transactions SELECT * FROM transactions_v1")
    db.execute("DROP TABLE transactions_v1")
    db.execute(_schema_statement("CREATE INDEX transactions_waiting"))


# schema version -> the step that brings a database of that version to the next one
MIGRATIONS = {1: _migrate_1_to_2}


class StoreError(Exception):
    """An admin request the store cannot carry out (unknown user, duplicate name …)."""


def new_id(prefix: str) -> str:
    """Duo-shaped identifier: two-letter prefix and 18 upper-case letters or digits (20 in all), random."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(18))


def token_name(number: int) -> str:
    """A hardware token's name: its place among the user's tokens, nothing taken from its seed (preauth sends
    device names to every application, and a RADIUS proxy may show them to whoever is logging in)."""
    return f"HOTP token {number}"


def _seed_tail(hotp_secret: str) -> str:
    """The last four hex digits of a token's seed (stored in base32)."""
    try:
        return base64.b32decode(hotp_secret).hex()[-4:]
    except ValueError:  # not written by duomfa: nothing to compare
        return ""


@dataclass(frozen=True)
class Integration:
    name: str
    ikey: str
    skey: str = field(repr=False)


@dataclass(frozen=True)
class User:
    user_id: str
    username: str
    status: str
    failed_attempts: int
    locked_out: bool


@dataclass(frozen=True)
class Device:
    device_id: str
    user_id: str
    type: str
    name: str
    number: str
    can_push: bool
    can_phone: bool
    can_sms: bool
    totp_secret: str | None = field(repr=False)
    totp_last_step: int
    hotp_secret: str | None = field(repr=False)
    hotp_counter: int
    page_token: str = field(repr=False)

    def capabilities(self) -> list[str]:
        """Duo's capability names, in Duo's order."""
        caps = []
        if self.can_push or self.can_phone:
            caps.append("auto")
        if self.can_push:
            caps.append("push")
        if self.can_sms:
            caps.append("sms")
        if self.can_phone:
            caps.append("phone")
        if self.type == "phone" and self.totp_secret is not None:
            caps.append("mobile_otp")
        return caps


@dataclass(frozen=True)
class Transaction:
    txid: str
    ikey: str
    user_id: str | None  # None: an unknown user let through by the new-user policy
    device_id: str | None
    factor: str
    result: str
    status: str
    status_msg: str
    ipaddr: str
    pushinfo: str
    display_username: str
    login_type: str
    created_at: float
    expires_at: float
    decided_at: float | None


def _integration(row: sqlite3.Row) -> Integration:
    return Integration(name=row["name"], ikey=row["ikey"], skey=row["skey"])


def _user(row: sqlite3.Row) -> User:
    return User(
        user_id=row["user_id"], username=row["username"], status=row["status"],
        failed_attempts=row["failed_attempts"], locked_out=bool(row["locked_out"]),
    )


def _device(row: sqlite3.Row) -> Device:
    return Device(
        device_id=row["device_id"], user_id=row["user_id"], type=row["type"], name=row["name"],
        number=row["number"], can_push=bool(row["can_push"]), can_phone=bool(row["can_phone"]),
        can_sms=bool(row["can_sms"]), totp_secret=row["totp_secret"], totp_last_step=row["totp_last_step"],
        hotp_secret=row["hotp_secret"], hotp_counter=row["hotp_counter"], page_token=row["page_token"],
    )


def _transaction(row: sqlite3.Row) -> Transaction:
    return Transaction(**dict(zip(row.keys(), row, strict=True)))  # a Row iterates over its values, not its keys


class Store:
    """The service's data. Not thread-safe: one thread at a time (the service's store worker, or an admin command).
    """

    def __init__(self, path: Path, notify: Notify = print_notice, busy_timeout: float | None = None):
        self.path = path
        self.notify = notify
        # SQLite gives the -wal and -shm files the database file's mode: create it 0600 before SQLite does (0644)
        os.close(open_private(path, os.O_RDONLY | os.O_CREAT))
        timeout = BUSY_TIMEOUT_SECONDS if busy_timeout is None else busy_timeout
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=timeout, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._prepare()
        except sqlite3.DatabaseError as exc:
            raise DataDirError(f"{path} is not a usable duomfa database ({exc}); restore it from a backup") from exc

    def _prepare(self) -> None:
        db = self._db
        application_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if application_id == 0 and version == 0 and tables == 0:
            db.execute("PRAGMA journal_mode=WAL")
            with self.write():
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif application_id != APPLICATION_ID:
            raise DataDirError(f"{self.path} is an SQLite database that duomfa did not create; move it aside")
        elif version in MIGRATIONS:
            pass  # migrated below, once SQLite has found the file sound
        elif version != SCHEMA_VERSION:
            raise DataDirError(
                f"{self.path} has schema version {version}; this duomfa knows version {SCHEMA_VERSION} "
                "(a newer duomfa wrote it? run that version)"
            )
        check = db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise DataDirError(f"{self.path} failed SQLite's integrity check ({check}); restore it from a backup")
        if version in MIGRATIONS:
            self._migrate()
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # see the module's docstring
        db.execute("PRAGMA fullfsync=ON")  # macOS only: its fsync() does not reach the disk, F_FULLFSYNC does
        db.execute("PRAGMA foreign_keys=ON")
        self._rename_seed_named_tokens()

    def _migrate(self) -> None:
        """Bring an older schema up to SCHEMA_VERSION, one version per transaction (another process may be doing the
        same at the same moment: each step re-reads the version under the write lock)."""
        while True:
            with self.write() as db:
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version not in MIGRATIONS:
                    break
                MIGRATIONS[version](db)
                db.execute(f"PRAGMA user_version = {version + 1}")
        if version != SCHEMA_VERSION:
            raise DataDirError(f"{self.path} has schema version {version}; this duomfa knows version {SCHEMA_VERSION}")

    def _rename_seed_named_tokens(self) -> None:
        """Earlier versions named a hardware token after the last four hex digits of its seed; rename those (and
        only those whose four digits really are their seed's tail) to a name without seed material."""
        rows = self._db.execute(
            "SELECT device_id, user_id, name, hotp_secret FROM devices "
            "WHERE type = 'token' AND hotp_secret IS NOT NULL AND name LIKE 'HOTP token ____'").fetchall()
        leaking = [row for row in rows if (match := _SEED_TAIL_NAME.fullmatch(row["name"]))
                   and match.group(1).lower() == _seed_tail(row["hotp_secret"])]
        for row in leaking:
            with self.write() as db:
                tokens = [r[0] for r in db.execute(
                    "SELECT device_id FROM devices WHERE user_id = ? AND type = 'token' ORDER BY created_at, device_id",
                    (row["user_id"],))]
                new_name = token_name(tokens.index(row["device_id"]) + 1)
                db.execute("UPDATE devices SET name = ? WHERE device_id = ?", (new_name, row["device_id"]))
            # the old name is not repeated: it holds part of the seed
            self.notify(f"renamed hardware token {row['device_id']} to {new_name!r}: its name held part of its seed")

    @property
    def synchronous(self) -> str:
        """The connection's PRAGMA synchronous, by name (FULL: every commit is on disk when it returns)."""
        value = self._db.execute("PRAGMA synchronous").fetchone()[0]
        return {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(value, str(value))

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: takes the write lock at once, so read-then-write cannot interleave.

        Inside another write() it joins that one: the outer block commits (or rolls back) all of it at once, so
        several steps — use up a passcode, record its outcome — are one unit on disk."""
        if self._db.in_transaction:
            yield self._db
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")

    # settings
    def get_setting(self, key: str, default: str | None = None) -> str | None:
        row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_setting(self, key: str, value: str) -> None:
        with self.write() as db:
            db.execute("INSERT INTO settings (key, value) VALUES (?, ?) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    # integrations
    def add_integration(self, name: str) -> Integration:
        alphabet = string.ascii_letters + string.digits
        integration = Integration(
            name=name, ikey=new_id("DI"), skey="".join(secrets.choice(alphabet) for _ in range(40)),
        )
        with self.write() as db:
            if db.execute("SELECT 1 FROM integrations WHERE name = ?", (name,)).fetchone():
                raise StoreError(f"an integration named {name!r} already exists")
            db.execute("INSERT INTO integrations (ikey, name, skey, created_at) VALUES (?, ?, ?, ?)",
                       (integration.ikey, name, integration.skey, time.time()))
        return integration

    def integration_by_ikey(self, ikey: str) -> Integration | None:
        row = self._db.execute("SELECT * FROM integrations WHERE ikey = ?", (ikey,)).fetchone()
        return _integration(row) if row else None

    def integration_by_name(self, name: str) -> Integration | None:
        row = self._db.execute("SELECT * FROM integrations WHERE name = ?", (name,)).fetchone()
        return _integration(row) if row else None

    def integrations(self) -> list[Integration]:
        return [_integration(r) for r in self._db.execute("SELECT * FROM integrations ORDER BY name")]

    def remove_integration(self, name: str) -> None:
        with self.write() as db:
            if db.execute("DELETE FROM integrations WHERE name = ?", (name,)).rowcount == 0:
                raise StoreError(f"no integration named {name!r}")

    # users
    def add_user(self, username: str, status: str = "active") -> User:
        with self.write() as db:
            if db.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
                raise StoreError(f"user {username!r} already exists")
            user_id = new_id("DU")
            db.execute("INSERT INTO users (user_id, username, status, created_at) VALUES (?, ?, ?, ?)",
                       (user_id, username, status, time.time()))
        return User(user_id=user_id, username=username, status=status, failed_attempts=0, locked_out=False)

    def user_by_name(self, username: str) -> User | None:
        row = self._db.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
        return _user(row) if row else None

    def user_by_id(self, user_id: str) -> User | None:
        row = self._db.execute("SELECT * FROM users WHERE user_id = ?", (user_id,)).fetchone()
        return _user(row) if row else None

    def require_user(self, username: str) -> User:
        user = self.user_by_name(username)
        if user is None:
            raise StoreError(f"no user named {username!r} (see `duomfa mfa user list`)")
        return user

    def users(self) -> list[User]:
        return [_user(r) for r in self._db.execute("SELECT * FROM users ORDER BY username")]

    def set_user_status(self, user_id: str, status: str) -> None:
        with self.write() as db:
            db.execute("UPDATE users SET status = ? WHERE user_id = ?", (status, user_id))

    def unlock_user(self, user_id: str) -> None:
        with self.write() as db:
            db.execute("UPDATE users SET locked_out = 0, failed_attempts = 0 WHERE user_id = ?", (user_id,))

    def remove_user(self, user_id: str) -> None:
        with self.write() as db:
            db.execute("DELETE FROM users WHERE user_id = ?", (user_id,))

    def record_failure(self, user_id: str, lockout_threshold: int) -> User:
        """Count one failed authentication; lock the user out when the count reaches the threshold."""
        with self.write() as db:
            db.execute(
                "UPDATE users SET failed_attempts = failed_attempts + 1, "
                "locked_out = CASE WHEN ? > 0 AND failed_attempts + 1 >= ? THEN 1 ELSE locked_out END "
                "WHERE user_id = ?",
                (lockout_threshold, lockout_threshold, user_id),
            )
            row = db.execute("SELECT * FROM users WHERE user_id = ?", (user_id,)).fetchone()
        return _user(row)

    def record_success(self, user_id: str) -> None:
        with self.write() as db:
            db.execute("UPDATE users SET failed_attempts = 0 WHERE user_id = ? AND failed_attempts != 0", (user_id,))

    # devices
    def add_device(
        self, user_id: str, *, type: str, name: str, number: str = "", can_push: bool = False,
        can_phone: bool = False, can_sms: bool = False, totp_secret: str | None = None,
        hotp_secret: str | None = None, hotp_counter: int = 0,
    ) -> Device:
        with self.write() as db:
            return self._insert_device(db, user_id, type=type, name=name, number=number, can_push=can_push,
                                       can_phone=can_phone, can_sms=can_sms, totp_secret=totp_secret,
                                       hotp_secret=hotp_secret, hotp_counter=hotp_counter)

    def add_hotp_token(self, user_id: str, hotp_secret: str, hotp_counter: int = 0) -> Device:
        """A hardware token named `HOTP token N`, N counted in the same transaction so two adds cannot clash."""
        with self.write() as db:
            count = db.execute("SELECT count(*) FROM devices WHERE user_id = ? AND type = 'token'",
                               (user_id,)).fetchone()[0]
            return self._insert_device(db, user_id, type="token", name=token_name(count + 1),
                                       hotp_secret=hotp_secret, hotp_counter=hotp_counter)

    @staticmethod
    def _insert_device(
        db: sqlite3.Connection, user_id: str, *, type: str, name: str, number: str = "", can_push: bool = False,
        can_phone: bool = False, can_sms: bool = False, totp_secret: str | None = None,
        hotp_secret: str | None = None, hotp_counter: int = 0,
    ) -> Device:
        device_id = new_id("DP" if type == "phone" else "DH")  # random: never derived from a seed
        db.execute(
            "INSERT INTO devices (device_id, user_id, type, name, number, can_push, can_phone, can_sms, "
            "totp_secret, hotp_secret, hotp_counter, page_token, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (device_id, user_id, type, name, number, can_push, can_phone, can_sms, totp_secret,
             hotp_secret, hotp_counter, secrets.token_urlsafe(24), time.time()),
        )
        return _device(db.execute("SELECT * FROM devices WHERE device_id = ?", (device_id,)).fetchone())

    def remove_device(self, device_id: str) -> None:
        with self.write() as db:
            db.execute("DELETE FROM devices WHERE device_id = ?", (device_id,))

    def devices_of(self, user_id: str) -> list[Device]:
        rows = self._db.execute("SELECT * FROM devices WHERE user_id = ? ORDER BY created_at, device_id", (user_id,))
        return [_device(r) for r in rows]

    def device_by_page_token(self, page_token: str) -> Device | None:
        row = self._db.execute("SELECT * FROM devices WHERE page_token = ?", (page_token,)).fetchone()
        return _device(row) if row else None

    def advance_totp(self, device_id: str, step: int) -> bool:
        """Record `step` as used; False when it (or a later step) was already used: a replay."""
        with self.write() as db:
            cursor = db.execute(
                "UPDATE devices SET totp_last_step = ? WHERE device_id = ? AND totp_last_step < ?",
                (step, device_id, step),
            )
        return cursor.rowcount == 1

    def advance_hotp(self, device_id: str, expected_counter: int, new_counter: int) -> bool:
        with self.write() as db:
            cursor = db.execute(
                "UPDATE devices SET hotp_counter = ? WHERE device_id = ? AND hotp_counter = ?",
                (new_counter, device_id, expected_counter),
            )
        return cursor.rowcount == 1

    # one-time codes
    def replace_bypass_codes(self, user_id: str, codes: list[str]) -> None:
        now = time.time()
        with self.write() as db:
            db.execute("DELETE FROM bypass_codes WHERE user_id = ?", (user_id,))
            db.executemany("INSERT INTO bypass_codes (user_id, code, created_at) VALUES (?, ?, ?)",
                           [(user_id, code, now) for code in codes])

    def use_bypass_code(self, user_id: str, code: str) -> bool:
        # read first: most passcodes are not bypass codes, and a write transaction costs far more than a read
        if not self._db.execute("SELECT 1 FROM bypass_codes WHERE user_id = ? AND code = ? AND used_at IS NULL",
                                (user_id, code)).fetchone():
            return False
        with self.write() as db:
            cursor = db.execute(
                "UPDATE bypass_codes SET used_at = ? WHERE user_id = ? AND code = ? AND used_at IS NULL",
                (time.time(), user_id, code),
            )
        return cursor.rowcount == 1

    def replace_sms_codes(self, device_id: str, codes: list[str]) -> None:
        now = time.time()
        with self.write() as db:
            db.execute("DELETE FROM sms_codes WHERE device_id = ?", (device_id,))
            db.executemany("INSERT INTO sms_codes (device_id, code, sent_at) VALUES (?, ?, ?)",
                           [(device_id, code, now) for code in codes])

    def use_sms_code(self, user_id: str, code: str) -> bool:
        if not self._db.execute(
                "SELECT 1 FROM sms_codes WHERE code = ? AND used_at IS NULL "
                "AND device_id IN (SELECT device_id FROM devices WHERE user_id = ?)", (code, user_id)).fetchone():
            return False
        with self.write() as db:
            cursor = db.execute(
                "UPDATE sms_codes SET used_at = ? WHERE code = ? AND used_at IS NULL "
                "AND device_id IN (SELECT device_id FROM devices WHERE user_id = ?)",
                (time.time(), code, user_id),
            )
        return cursor.rowcount >= 1

    def sms_inbox(self, device_id: str) -> list[tuple[str, float, bool]]:
        rows = self._db.execute(
            "SELECT code, sent_at, used_at FROM sms_codes WHERE device_id = ? ORDER BY rowid", (device_id,))
        return [(r["code"], r["sent_at"], r["used_at"] is not None) for r in rows]

    # transactions
    def add_transaction(self, transaction: Transaction) -> None:
        with self.write() as db:
            db.execute(
                "INSERT INTO transactions VALUES (:txid, :ikey, :user_id, :device_id, :factor, :result, :status, "
                ":status_msg, :ipaddr, :pushinfo, :display_username, :login_type, :created_at, :expires_at, "
                ":decided_at)",
                transaction.__dict__,
            )

    def transaction(self, txid: str) -> Transaction | None:
        row = self._db.execute("SELECT * FROM transactions WHERE txid = ?", (txid,)).fetchone()
        return _transaction(row) if row else None

    def decide(self, txid: str, result: str, status: str, status_msg: str) -> bool:
        """Settle a waiting transaction; False when it was already settled (first decision wins)."""
        with self.write() as db:
            cursor = db.execute(
                "UPDATE transactions SET result = ?, status = ?, status_msg = ?, decided_at = ? "
                "WHERE txid = ? AND result = 'waiting'",
                (result, status, status_msg, time.time(), txid),
            )
            if cursor.rowcount == 1:
                db.execute("INSERT INTO decisions (txid) VALUES (?)", (txid,))
        return cursor.rowcount == 1

    def waiting_transactions(self, *, device_id: str | None = None, user_id: str | None = None) -> list[Transaction]:
        query = "SELECT * FROM transactions WHERE result = 'waiting'"
        args: list[str] = []
        if device_id is not None:
            query += " AND device_id = ?"
            args.append(device_id)
        if user_id is not None:
            query += " AND user_id = ?"
            args.append(user_id)
        rows = self._db.execute(query + " ORDER BY created_at", args)
        return [_transaction(r) for r in rows]

    def decisions_after(self, seq: int) -> list[tuple[int, str]]:
        rows = self._db.execute("SELECT seq, txid FROM decisions WHERE seq > ? ORDER BY seq", (seq,))
        return [(r[0], r[1]) for r in rows]

    def last_decision_seq(self) -> int:
        return self._db.execute("SELECT coalesce(max(seq), 0) FROM decisions").fetchone()[0]

    def prune(self, older_than: float) -> None:
        with self.write() as db:
            db.execute("DELETE FROM transactions WHERE result != 'waiting' AND created_at < ?", (older_than,))
            db.execute("DELETE FROM decisions WHERE txid NOT IN (SELECT txid FROM transactions)")
            db.execute("DELETE FROM activations WHERE expires_at < ? AND device_id IS NULL", (older_than,))

    # enrollment
    def add_activation(self, user_id: str, valid_secs: int) -> str:
        code = secrets.token_urlsafe(15)
        now = time.time()
        with self.write() as db:
            db.execute("INSERT INTO activations (activation_code, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                       (code, user_id, now, now + valid_secs))
        return code

    def activation(self, code: str) -> sqlite3.Row | None:
        return self._db.execute("SELECT * FROM activations WHERE activation_code = ?", (code,)).fetchone()

    def complete_activation(self, code: str, device_id: str) -> bool:
        with self.write() as db:
            cursor = db.execute(
                "UPDATE activations SET device_id = ? "
                "WHERE activation_code = ? AND device_id IS NULL AND expires_at > ?",
                (device_id, code, time.time()),
            )
        return cursor.rowcount == 1
