"""What Duo answers, as typed values the proxy pipeline decides on."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DuoDevice:
    device: str  # Duo's device id, e.g. "DP80Z4GVU82OT8O1BNJF"
    type: str  # "phone" | "token"
    name: str
    number: str  # masked ("XXX-XXX-4788") or ""
    display_name: str
    capabilities: tuple[str, ...]  # auto, push, sms, phone, mobile_otp; empty for tokens


@dataclass(frozen=True)
class PreauthResult:
    result: str  # allow | auth | deny | enroll (passed through as Duo sent it)
    status_msg: str
    devices: tuple[DuoDevice, ...]
    enroll_portal_url: str | None


@dataclass(frozen=True)
class AuthResult:
    result: str  # allow | deny | waiting
    status: str  # allow, deny, timeout, bypass, locked_out, fraud, sent, pushed, calling … ("" while unknown)
    status_msg: str
    txid: str | None

    @property
    def waiting(self) -> bool:
        return self.result == "waiting"
