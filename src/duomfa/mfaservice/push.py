"""Pending out-of-band approvals (push and phone): waiting for a person without holding a thread.

Each waiting transaction has an asyncio.Event and a timer; approving, denying or timing out settles it in the
store first (the first decision wins), then wakes whoever waits. Decisions made by other processes (the admin
command `duomfa mfa push approve`) are picked up from the store's decision log.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from duomfa.mfaservice.store import Store, Transaction

TIMEOUT_STATUS_MSG = "Login timed out."


class PushBroker:
    def __init__(self, store: Store, on_decided: Callable[[Transaction], None],
                 watch_interval: float = 0.25):
        self.store = store
        self.on_decided = on_decided
        self.watch_interval = watch_interval
        self._events: dict[str, asyncio.Event] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._reported: set[str] = set()
        self._watcher: asyncio.Task[None] | None = None
        self._last_seq = 0

    @property
    def pending(self) -> int:
        return len(self._events)

    async def start(self) -> None:
        self._last_seq = self.store.last_decision_seq()
        for transaction in self.store.waiting_transactions():  # still waiting from before a restart
            self.track(transaction)
        self._watcher = asyncio.create_task(self._watch_store())

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        for timer in self._timers.values():
            timer.cancel()

    def track(self, transaction: Transaction) -> None:
        loop = asyncio.get_running_loop()
        self._events[transaction.txid] = asyncio.Event()
        delay = max(0.0, transaction.expires_at - time.time())
        self._timers[transaction.txid] = loop.call_later(delay, self._time_out, transaction.txid)

    def decide(self, txid: str, result: str, status: str, status_msg: str) -> bool:
        """Settle a waiting transaction in this process; False when it was already settled."""
        if not self.store.decide(txid, result, status, status_msg):
            return False
        self._settled(txid)
        return True

    def _time_out(self, txid: str) -> None:
        self._timers.pop(txid, None)
        self.decide(txid, "deny", "timeout", TIMEOUT_STATUS_MSG)

    def _settled(self, txid: str) -> None:
        timer = self._timers.pop(txid, None)
        if timer is not None:
            timer.cancel()
        event = self._events.pop(txid, None)
        self._reported.discard(txid)
        transaction = self.store.transaction(txid)
        if event is not None:
            event.set()
            if transaction is not None:
                self.on_decided(transaction)

    async def _watch_store(self) -> None:
        while True:
            await asyncio.sleep(self.watch_interval)
            if not self._events:
                self._last_seq = max(self._last_seq, self.store.last_decision_seq())
                continue
            for seq, txid in self.store.decisions_after(self._last_seq):
                self._last_seq = seq
                if txid in self._events:
                    self._settled(txid)

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
