"""What every check of `duomfa doctor` returns, and the thresholds several checks share."""

from __future__ import annotations

from dataclasses import dataclass

OK, WARN, FAIL = "ok", "warn", "fail"
CLOCK_WARN_SECONDS = 60
CLOCK_FAIL_SECONDS = 300  # Duo rejects a signed request whose Date is more than 5 minutes off
DUO_TIMEOUT_SECONDS = 10.0
DIRECTORY_PORTS = range(1025, 65536)  # RadiusPort's range in Directory Service


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str  # what was found
    fix: str = ""  # what to do, when the status is not ok
