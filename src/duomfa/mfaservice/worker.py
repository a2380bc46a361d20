"""The one thread that does the MFA service's SQLite work, so that waiting on the database (another process holding
its write lock, for up to the busy timeout) never stalls the event loop and the requests it is serving.

One thread, not a pool: the store's single connection is then used by one thread at a time, its transactions
never interleave, and units of work run in the order they were asked for.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class StoreWorker:
    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="duomfa-store")

    async def run(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `work` on the store's thread and wait for it without blocking the event loop.

        Each call should be one whole unit of store work (check, decide, record), not a statement at a time: a
        hop to the thread and back costs tens of microseconds.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(work, *args, **kwargs))

    def close(self) -> None:
        """Finish the work already asked for, then stop the thread."""
        self._executor.shutdown(wait=True)
