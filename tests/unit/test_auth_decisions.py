"""What /auth decides at once, without HTTP: with async=1 the decision and the passcode it used up are one store
transaction, so neither is ever on disk without the other."""

from __future__ import annotations

import sqlite3

import pytest

from duomfa.mfaservice.auditlog import AuditLog
from duomfa.mfaservice.datadir import open_data_dir
from duomfa.mfaservice.service import MfaService, Policy
from duomfa.mfaservice.store import Store


@pytest.fixture
def service(tmp_path):
    data_dir = open_data_dir(tmp_path / "mfa")
    store = Store(data_dir.database)
    mfa = MfaService(store, AuditLog(data_dir.auth_log), Policy(), base_url="https://127.0.0.1:8443")
    yield mfa
    mfa.close()
    store.close()


@pytest.fixture
def integration(service):
    return service.store.add_integration("tests")


def _bypass_user(service: MfaService, code: str = "123456789") -> str:
    user = service.store.add_user("alice")
    service.store.add_device(user.user_id, type="phone", name="Phone", can_push=True)
    service.store.replace_bypass_codes(user.user_id, [code])
    return user.user_id


def _unused(service: MfaService, user_id: str) -> int:
    return service.store._db.execute(
        "SELECT count(*) FROM bypass_codes WHERE user_id = ? AND used_at IS NULL", (user_id,)).fetchone()[0]


def test_async_passcode_stores_its_decision_and_uses_the_code(service, integration):
    user_id = _bypass_user(service)
    answer = service.start_auth(integration, {"username": "alice", "factor": "passcode", "passcode": "123456789",
                                              "async": "1"}, "tx-1")
    assert answer == {"txid": "tx-1"}
    stored = service.store.transaction("tx-1")
    assert stored is not None and (stored.result, stored.status, stored.user_id) == ("allow", "allow", user_id)
    assert _unused(service, user_id) == 0


def test_a_decision_that_cannot_be_recorded_leaves_the_passcode_unused(service, integration, monkeypatch):
    user_id = _bypass_user(service)

    def busy(transaction):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(service.store, "add_transaction", busy)
    with pytest.raises(sqlite3.OperationalError):
        service.start_auth(integration, {"username": "alice", "factor": "passcode", "passcode": "123456789",
                                         "async": "1"}, "tx-2")
    assert _unused(service, user_id) == 1  # the 503 that follows is true: nothing changed, the code still works
    assert not service.store._db.in_transaction
    monkeypatch.undo()
    assert service.start_auth(integration, {"username": "alice", "factor": "passcode", "passcode": "123456789"},
                              "tx-3")["result"] == "allow"


def test_a_parameter_error_changes_nothing(service, integration):
    user_id = _bypass_user(service)
    with pytest.raises(Exception, match="Invalid request parameters"):
        service.start_auth(integration, {"username": "alice", "factor": "prompt", "prompt": "push7", "async": "1"},
                           "tx-4")
    assert service.store.transaction("tx-4") is None and _unused(service, user_id) == 1


def test_writes_inside_a_write_join_it(service):
    store = service.store
    with pytest.raises(RuntimeError), store.write():
        store.set_setting("joined", "yes")  # its own write() joins the outer one ...
        raise RuntimeError("... so it goes when the outer one rolls back")
    assert store.get_setting("joined") is None
    store.set_setting("alone", "yes")
    assert store.get_setting("alone") == "yes"
