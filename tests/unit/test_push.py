"""The push broker with its store work on the store worker: no decision is missed, none waits on the loop."""

import asyncio
import time

from duomfa.mfaservice.datadir import open_data_dir
from duomfa.mfaservice.push import PushBroker
from duomfa.mfaservice.store import Store, Transaction
from duomfa.mfaservice.worker import StoreWorker


def _transaction(user_id: str, device_id: str, txid: str, expires_in: float) -> Transaction:
    now = time.time()
    return Transaction(txid=txid, ikey="DI" + "X" * 18, user_id=user_id, device_id=device_id, factor="push",
                       result="waiting", status="pushed", status_msg="", ipaddr="", pushinfo="",
                       display_username="", login_type="", created_at=now, expires_at=now + expires_in,
                       decided_at=None)


def test_a_decision_made_elsewhere_before_tracking_starts_is_not_missed(tmp_path):
    database = open_data_dir(tmp_path / "mfa").database
    store = Store(database)
    user = store.add_user("alice")
    device = store.add_device(user.user_id, type="phone", name="phone", can_push=True)
    admin = Store(database)  # another process: `duomfa mfa push approve`
    decided = []

    async def main():
        worker = StoreWorker()
        broker = PushBroker(store, worker, decided.append, watch_interval=0.05)
        await broker.start()
        try:
            transaction = _transaction(user.user_id, device.device_id, "tx-1", expires_in=30)
            broker.expect(transaction.txid)
            await worker.run(store.add_transaction, transaction)
            # decided by another process, and noticed by the watcher, before this request gets to track it
            assert admin.decide(transaction.txid, "allow", "allow", "ok")
            await asyncio.sleep(0.3)
            broker.track(transaction)
            started = time.monotonic()
            await broker.wait(transaction.txid, 5)
            return time.monotonic() - started
        finally:
            await broker.stop()
            worker.close()

    waited = asyncio.run(main())
    assert waited < 1  # not the 5 s wait: the decision was seen
    assert [t.result for t in decided] == ["allow"]  # counted and logged once
    admin.close()
    store.close()


def test_an_unanswered_push_times_out_into_a_deny(tmp_path):
    store = Store(open_data_dir(tmp_path / "mfa").database)
    user = store.add_user("bob")
    device = store.add_device(user.user_id, type="phone", name="phone", can_push=True)
    decided = []

    async def main():
        worker = StoreWorker()
        broker = PushBroker(store, worker, decided.append)
        await broker.start()
        try:
            transaction = _transaction(user.user_id, device.device_id, "tx-2", expires_in=0.2)
            broker.expect(transaction.txid)
            await worker.run(store.add_transaction, transaction)
            broker.track(transaction)
            await broker.wait(transaction.txid, 5)
        finally:
            await broker.stop()
            worker.close()

    asyncio.run(main())
    settled = store.transaction("tx-2")
    assert (settled.result, settled.status) == ("deny", "timeout")
    assert [t.status for t in decided] == ["timeout"]
    store.close()
