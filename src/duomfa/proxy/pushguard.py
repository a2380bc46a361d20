"""Push-bombing guard: refuse more than N pushes or calls for one user per minute, before Duo is asked."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0
MAX_TRACKED_USERS = 100_000


def person(username: str) -> str:
    """Whom a User-Name names, for counting: CORP\\alice, alice@corp.example, ALICE and " alice" are all "alice".
    Folding more names together can only make the cap stricter, never looser."""
    name = username.strip().casefold()
    name = name.rpartition("\\")[2]
    name = name.partition("@")[0]
    return name.strip() or username.strip().casefold()


class PushGuard:
    def __init__(self, max_per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.max_per_minute = max_per_minute
        self.clock = clock
        self._recent: dict[str, deque[float]] = {}

    def allow(self, username: str) -> bool:
        """Record one push for the person if the limit allows it; False (nothing recorded) if it does not."""
        now = self.clock()
        key = person(username)
        stamps = self._recent.get(key)
        if stamps is None:
            if len(self._recent) >= MAX_TRACKED_USERS:
                self._forget_idle(now)
            stamps = self._recent[key] = deque()
        while stamps and now - stamps[0] >= WINDOW_SECONDS:
            stamps.popleft()
        if len(stamps) >= self.max_per_minute:
            return False
        stamps.append(now)
        return True

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, v in self._recent.items() if not v or now - v[-1] >= WINDOW_SECONDS]:
            del self._recent[key]
