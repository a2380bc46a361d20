"""Pending out-of-band approvals (push and phone): waiting for a person without holding a thread.

Each waiting transaction has an asyncio.Event and a timer; approving, denying or timing out settles it in the
store first (the first decision wins), then wakes whoever waits. Decisions made by other processes (the admin
command `duomfa mfa push approve`) are picked up from the store's decision log. All store work goes through the
service's store worker; the events and timers belong to the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
import time
from collections.abc import Callable

from duomfa.mfaservice.store import Store, Transaction
from duomfa.mfaservice.worker import StoreWorker

TIMEOUT_STATUS_MSG = "Login timed out."
RETRY_SECONDS = 1.0  # after the database was too busy to record a timeout


class PushBroker:
    def __init__(self, store: Store, worker: StoreWorker, on_decided: Callable[[Transaction], None],
                 watch_interval: float = 0.25):
        self.store = store
        self.worker = worker
        self.on_decided = on_decided  # called on the store worker's thread
        self.watch_interval = watch_interval
        self._events: dict[str, asyncio.Event] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._reported: set[str] = set()
        self._watcher: asyncio.Task[None] | None = None
        self._last_seq = 0

    @property
    def pending(self) -> int:
        return len(self._events)

    async def start(self) -> None:
        self._last_seq = await self.worker.run(self.store.last_decision_seq)
        # transactions still waiting from before a restart
        for transaction in await self.worker.run(self.store.waiting_transactions):
            self.expect(transaction.txid)
            self.track(transaction)
        self._watcher = asyncio.create_task(self._watch_store())

    async def stop(self) -> None:
        tasks = list(self._tasks)
        if self._watcher is not None:
            tasks.append(self._watcher)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for timer in self._timers.values():
            timer.cancel()

    def expect(self, txid: str) -> None:
        """Get ready for a decision on txid before its row exists, so the store watcher cannot miss one made
        between the row's insertion (on the store worker) and `track` (on the event loop)."""
        self._events.setdefault(txid, asyncio.Event())

    def forget(self, txid: str) -> None:
        """An expected txid that will not be tracked after all: the request ended without a push or call."""
        self._events.pop(txid, None)

    def track(self, transaction: Transaction) -> None:
        """Start the timeout of an expected transaction; nothing to do if it was settled meanwhile."""
        if transaction.txid not in self._events or transaction.txid in self._timers:
            return
        delay = max(0.0, transaction.expires_at - time.time())
        # the coroutine is made when the timer fires: one made now would never be awaited if the push is answered
        self._timers[transaction.txid] = asyncio.get_running_loop().call_later(
            delay, self._spawn_time_out, transaction.txid)

    def _spawn_time_out(self, txid: str) -> None:
        task = asyncio.create_task(self._time_out(txid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def decide(self, txid: str, result: str, status: str, status_msg: str) -> bool:
        """Settle a waiting transaction in this process; False when it was already settled."""
        if not await self.worker.run(self.store.decide, txid, result, status, status_msg):
            return False
        await self._settled(txid)
        return True

    async def _time_out(self, txid: str) -> None:
        self._timers.pop(txid, None)
        while txid in self._events:
            try:
                if not await self.decide(txid, "deny", "timeout", TIMEOUT_STATUS_MSG):
                    # settled by another process (the watcher may not have seen it yet) or removed with its user:
                    # either way, nobody may go on waiting for it
                    await self._settled(txid)
                return
            except sqlite3.Error as exc:  # e.g. the database stayed locked past the busy timeout
                print(f"duomfa MFA service: could not record the timeout of {txid} ({exc}); retrying",
                      file=sys.stderr, flush=True)
                await asyncio.sleep(RETRY_SECONDS)

    def _finish(self, txid: str) -> None:
        transaction = self.store.transaction(txid)
        if transaction is not None:
            self.on_decided(transaction)

    async def _settled(self, txid: str) -> None:
        timer = self._timers.pop(txid, None)
        if timer is not None:
            timer.cancel()
        event = self._events.pop(txid, None)
        self._reported.discard(txid)
        if event is None:  # not ours, or already settled: its outcome was counted and logged once
            return
        try:
            await self.worker.run(self._finish, txid)
        finally:
            event.set()  # whatever happened to the bookkeeping, the waiter must learn the decision

    async def _watch_store(self) -> None:
        while True:
            await asyncio.sleep(self.watch_interval)
            try:
                if not self._events:
                    self._last_seq = max(self._last_seq, await self.worker.run(self.store.last_decision_seq))
                    continue
                for seq, txid in await self.worker.run(self.store.decisions_after, self._last_seq):
                    self._last_seq = seq
                    if txid in self._events:
                        await self._settled(txid)
            except sqlite3.Error as exc:  # e.g. busy past the timeout: look again at the next interval
                print(f"duomfa MFA service: could not read decisions ({exc}); retrying", file=sys.stderr, flush=True)

    async def wait(self, txid: str, timeout: float | None) -> None:
        """Wait until the transaction is settled, or `timeout` seconds pass (None: until settled)."""
        event = self._events.get(txid)
        if event is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):  # not wait_for: it can swallow a cancellation in Python 3.11
                await event.wait()

    def first_report(self, txid: str) -> bool:
        """True the first time a waiting status is reported for txid: that answer does not long-poll."""
        if txid in self._reported:
            return False
        self._reported.add(txid)
        return True
