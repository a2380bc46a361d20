"""The MFA service's store: durability of used codes, and hardware-token names that hold nothing of their seed."""

import sqlite3

import pytest

from duomfa.mfaservice import otp
from duomfa.mfaservice.datadir import open_data_dir
from duomfa.mfaservice.store import Store

SEED_HEX = "3132333435363738393031323334353637383930"  # RFC 4226's test seed; its tail is 3930
OTHER_SEED_HEX = "00112233445566778899aabbccddeeff0011beef"


@pytest.fixture
def store(tmp_path):
    opened = Store(open_data_dir(tmp_path / "mfa").database)
    yield opened
    opened.close()


def test_the_connection_that_burns_codes_syncs_every_commit(store):
    # FULL (2): in WAL mode the WAL is synced at each commit, so a used code stays used after a power loss
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.synchronous == "FULL"
    user = store.add_user("alice")
    store.replace_bypass_codes(user.user_id, ["123456789"])
    seen = []
    store._db.set_trace_callback(seen.append)
    assert store.use_bypass_code(user.user_id, "123456789")
    store._db.set_trace_callback(None)
    assert "COMMIT" in seen  # the burn was its own committed transaction on this very connection
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_hardware_tokens_are_numbered_not_named_after_their_seed(store):
    user = store.add_user("alice")
    first = store.add_hotp_token(user.user_id, otp.hotp_secret_from_hex(SEED_HEX))
    second = store.add_hotp_token(user.user_id, otp.hotp_secret_from_hex(OTHER_SEED_HEX))
    assert (first.name, second.name) == ("HOTP token 1", "HOTP token 2")
    for device, seed in ((first, SEED_HEX), (second, OTHER_SEED_HEX)):
        assert not any(seed[i:i + 4].lower() in device.name.lower() for i in range(len(seed) - 3))


def test_tokens_named_after_their_seed_by_older_versions_are_renamed_on_open(tmp_path):
    database = open_data_dir(tmp_path / "mfa").database
    store = Store(database)
    alice, bob = store.add_user("alice"), store.add_user("bob")
    phone = store.add_device(alice.user_id, type="phone", name="Duo Mobile (duomfa)", can_push=True)
    # what older versions wrote: "HOTP token " and the seed's last four hex digits
    leaking = store.add_device(alice.user_id, type="token", name=f"HOTP token {SEED_HEX[-4:]}",
                               hotp_secret=otp.hotp_secret_from_hex(SEED_HEX))
    leaking_upper = store.add_device(bob.user_id, type="token", name="HOTP token BEEF",
                                     hotp_secret=otp.hotp_secret_from_hex(OTHER_SEED_HEX))
    # four hex digits that are not this token's seed tail: an admin's own name, left alone
    unrelated = store.add_device(alice.user_id, type="token", name="HOTP token beef",
                                 hotp_secret=otp.hotp_secret_from_hex(SEED_HEX))
    store.close()

    notices = []
    reopened = Store(database, notify=notices.append)
    names = {d.device_id: d.name for u in (alice, bob) for d in reopened.devices_of(u.user_id)}
    assert names == {phone.device_id: "Duo Mobile (duomfa)", leaking.device_id: "HOTP token 1",
                     leaking_upper.device_id: "HOTP token 1", unrelated.device_id: "HOTP token beef"}
    assert sorted(notices) == sorted([
        f"renamed hardware token {leaking.device_id} to 'HOTP token 1': its name held part of its seed",
        f"renamed hardware token {leaking_upper.device_id} to 'HOTP token 1': its name held part of its seed",
    ])
    assert not any("3930" in notice or "beef" in notice.lower() for notice in notices)
    reopened.close()

    again = []
    Store(database, notify=again.append).close()
    assert again == []
    raw = sqlite3.connect(database)
    assert raw.execute("SELECT count(*) FROM devices WHERE name LIKE '%3930%'").fetchone()[0] == 0
