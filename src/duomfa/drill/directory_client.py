"""A RADIUS client that behaves like AWS Directory Service's: for each login one Access-Request (PAP), sent to its
first server, resent to the next after its timeout, given up after its retries — with the shared secret and the
servers it was last given. The drills watch what such a client sees while the secret rotates or the proxies are
replaced."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from duomfa import radius
from duomfa.radius.exchange import access_request
from duomfa.radius_udp import REFUSED, exchange_async

A = radius.constants


@dataclass
class LoginCounts:
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    timed_out: int = 0
    resends: int = 0
    reject_reasons: dict[str, int] = field(default_factory=dict)


class DirectoryRadiusClient:
    def __init__(self, servers: list[tuple[str, int]], secret: bytes, *, timeout: float, retries: int,
                 message_authenticator: bool = True, refused_is_silence: bool = False):
        self.servers = servers
        self.secret = secret
        self.timeout = timeout
        self.retries = retries
        self.message_authenticator = message_authenticator
        # on loopback a stopped proxy's port answers ICMP "port unreachable" at once; in a VPC a stopped task's
        # address answers nothing, and the directory waits out its timeout before the next server
        self.refused_is_silence = refused_is_silence
        self.counts = LoginCounts()

    def set_secret(self, secret: bytes) -> None:
        """What the directory does when UpdateRadius gives it a new shared secret."""
        self.secret = secret

    def set_servers(self, servers: list[tuple[str, int]]) -> None:
        """What the directory does when UpdateRadius gives it new RADIUS servers; logins under way use them from
        their next attempt."""
        if servers:
            self.servers = list(servers)

    async def login(self, username: str, factor: str) -> str:
        """'accepted', 'rejected' or 'timed_out', as the user would see it."""
        self.counts.sent += 1
        for attempt in range(self.retries + 1):
            if attempt:
                self.counts.resends += 1
            # a retry is a new request, with whatever secret the directory holds now, to its next server
            request = access_request(username, factor, self.secret, attributes=[(A.NAS_IDENTIFIER, b"directory-drill")],
                                     message_authenticator=self.message_authenticator)
            servers = self.servers
            address, port = servers[attempt % len(servers)]
            sent = time.monotonic()
            result = await exchange_async(request, address, port, timeout=self.timeout, attempts=1)
            if result.outcome == REFUSED and self.refused_is_silence:
                await asyncio.sleep(max(0.0, sent + self.timeout - time.monotonic()))
            if result.reply is None:
                continue  # silence, or a reply the directory cannot verify: as good as none
            if result.reply.code == A.ACCESS_ACCEPT:
                self.counts.accepted += 1
                return "accepted"
            message = (result.reply.get(A.REPLY_MESSAGE) or b"").decode("utf-8", "replace")
            self.counts.rejected += 1
            self.counts.reject_reasons[message] = self.counts.reject_reasons.get(message, 0) + 1
            return "rejected"
        self.counts.timed_out += 1
        return "timed_out"


async def steady_logins(client: DirectoryRadiusClient, users: list[tuple[str, str]], rate: float,
                        stop: asyncio.Event) -> LoginCounts:
    """Start `rate` logins a second, cycling through users, until `stop` is set; wait for the last to finish."""
    pending: set[asyncio.Task[str]] = set()
    interval = 1.0 / rate
    started = time.monotonic()
    index = 0
    while not stop.is_set():
        username, factor = users[index % len(users)]
        task = asyncio.create_task(client.login(username, factor))
        pending.add(task)
        task.add_done_callback(pending.discard)
        index += 1
        delay = started + index * interval - time.monotonic()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
    if pending:
        await asyncio.gather(*pending)
    return client.counts
