"""The calls the proxy makes to Duo, as a Protocol: DuoClient makes them over HTTPS; tests and any other engine
can supply their own. Each call returns a result from duomfa.duo.results or raises one of duomfa.duo.errors:
DuoUnavailable, DuoBadResponse, DuoApiError or DuoBusy."""

from __future__ import annotations

from typing import Protocol

from duomfa.duo.results import AuthResult, PreauthResult


class DuoApi(Protocol):
    @property
    def api_host(self) -> str: ...

    async def ping(self) -> int:
        """Duo's time; proves that Duo answers (unsigned: nothing about the keys)."""
        ...

    async def preauth(self, username: str, ipaddr: str | None = None) -> PreauthResult:
        """allow | auth | deny | enroll, and the user's devices."""
        ...

    async def auth(self, factor: str, username: str, *, device: str = "auto", passcode: str | None = None,
                   ipaddr: str | None = None, pushinfo: str | None = None, type: str | None = None,
                   async_txn: bool = False) -> AuthResult:
        """A decided passcode or SMS /auth (result allow or deny)."""
        ...

    async def auth_and_wait(self, factor: str, username: str, *, device: str = "auto", ipaddr: str | None = None,
                            pushinfo: str | None = None, type: str | None = None, deadline: float) -> AuthResult:
        """A push or call, waited for until decided or the monotonic `deadline` (then deny/timeout)."""
        ...

    async def close(self) -> None: ...
