"""Warnings for the drops a person must act on: a client with the wrong shared secret, one that is not configured,
one that does not send PAP. The first drop of a kind from a client is logged at once with its likely cause; after
that, one line a minute with the count — a misconfigured directory sends thousands, and a flood from spoofed
addresses must not flood the log or the memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from duomfa.logline import JsonLog

# drop reason → what most likely causes it, and what to do
CAUSES = {
    "unknown_client": "this address is not a RADIUS client of the proxy: add it (radius_ip_N, radius_clients) if it "
                      "should be one, or find out what is sending to the RADIUS port",
    "bad_message_authenticator": "the Message-Authenticator does not verify: the client's shared secret differs from "
                                 "the proxy's",
    "bad_secret": "the User-Password does not decrypt to a readable value with any shared secret: the client's shared "
                  "secret differs from the proxy's",
    "unverifiable": "the request proves no knowledge of the shared secret (no Message-Authenticator, no "
                    "User-Password, e.g. CHAP or MS-CHAP): set the client's authentication protocol to PAP",
    "missing_message_authenticator": "this client has sent Message-Authenticator before (or it is required) and this "
                                     "request has none: a client whose settings changed, or a forged request",
}
MAX_TRACKED = 1000  # (reason, client) pairs remembered; beyond that, drops are counted under "other clients"
FORGET_AFTER_SECONDS = 3600.0  # a pair quiet this long is forgotten: its next drop is a "first" again
OTHER_CLIENTS = "(other clients)"


@dataclass
class _Seen:
    count: int  # since the last summary
    last: float


class DropNotices:
    def __init__(self, log: JsonLog, clock: Callable[[], float] = time.monotonic):
        self.log = log
        self.clock = clock
        self._seen: dict[tuple[str, str], _Seen] = {}
        self._other: dict[str, int] = {}

    def note(self, reason: str, client: str) -> None:
        """One drop; logs a WARNING now if it is the first of its kind from this client."""
        cause = CAUSES.get(reason)
        if cause is None:
            return
        now = self.clock()
        seen = self._seen.get((reason, client))
        if seen is not None:
            seen.count += 1
            seen.last = now
            return
        if len(self._seen) >= MAX_TRACKED:
            self._other[reason] = self._other.get(reason, 0) + 1
            return
        self._seen[reason, client] = _Seen(0, now)
        self.log.event("WARNING", "drop_notice", reason=reason, client=client, first=True, cause=cause)

    def summarize(self, interval_s: float) -> None:
        """One WARNING per (reason, client) that dropped more since the last summary; call once a minute."""
        now = self.clock()
        for (reason, client), seen in list(self._seen.items()):
            if seen.count:
                self.log.event("WARNING", "drop_notice", reason=reason, client=client, count=seen.count,
                               interval_s=interval_s, cause=CAUSES[reason])
                seen.count = 0
            elif now - seen.last > FORGET_AFTER_SECONDS:
                del self._seen[reason, client]
        for reason, count in self._other.items():
            self.log.event("WARNING", "drop_notice", reason=reason, client=OTHER_CLIENTS, count=count,
                           interval_s=interval_s, cause=CAUSES[reason])
        self._other.clear()
