"""Duo's text menu (preauth `text_prompt=1`) and the choice a client sends back (`/auth` `factor=prompt`).

Pure functions of a user's devices. One line per thing a device can do, in preauth's device order; factor strings
carry the device's place (`push1`, `voice1`, `smsrefresh1`, `push2` …) — Duo's own names, so clients such as
duo_unix map a key to a factor without knowing what it means.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from duomfa.mfaservice.store import Device

# what a menu line offers, in the order a device's lines appear: (factor string stem, what the line says)
_OFFERS = (("push", "Duo Push to"), ("voice", "Phone call to"), ("smsrefresh", "SMS passcodes to"))
# factor strings a client may send back, with the /auth factor each one stands for; a bare word means the first
# device that can do it
_CHOICE = re.compile(r"(push|voice|phone|smsrefresh|sms)([1-9][0-9]{0,2})?", re.IGNORECASE)
_CHOICE_FACTORS = {"push": "push", "voice": "phone", "phone": "phone", "smsrefresh": "sms", "sms": "sms"}


def masked_number(number: str) -> str:
    """A phone number as Duo shows it: `XXX-XXX-1234`; "" without enough digits."""
    digits = [c for c in number if c.isdigit()]
    return f"XXX-XXX-{''.join(digits[-4:])}" if len(digits) >= 4 else ""


def menu_devices(devices: Sequence[Device]) -> list[Device]:
    """The devices a menu numbers: those that can take a push, a call or SMS passcodes, in the given order."""
    return [d for d in devices if d.can_push or d.can_phone or d.can_sms]


def _can(device: Device, stem: str) -> bool:
    return {"push": device.can_push, "voice": device.can_phone, "smsrefresh": device.can_sms}[stem]


def login_prompt(username: str, devices: Sequence[Device], sms_nextcodes: Mapping[str, str]) -> dict[str, Any]:
    """The `prompt` object of a preauth that answers `auth`: `text` (the menu) and `factors` (menu key -> factor
    string, plus `default`: what an automatic login does). `sms_nextcodes`: device ID -> first digit of its next
    unused SMS passcode."""
    lines: list[str] = []
    factors: dict[str, str] = {}
    for number, device in enumerate(menu_devices(devices), start=1):
        label = masked_number(device.number) or device.name
        for stem, says in _OFFERS:
            if not _can(device, stem):
                continue
            line = f"{says} {label}"
            if stem == "smsrefresh" and device.device_id in sms_nextcodes:
                line += f" (next code starts with: {sms_nextcodes[device.device_id]})"
            lines.append(line)
            factors[str(len(lines))] = f"{stem}{number}"
    factors["default"] = default_factor(devices)
    heading = f"Duo two-factor login for {username}\n\n"
    if not lines:
        return {"text": heading + "Enter a passcode: ", "factors": factors}
    menu = "".join(f" {key}. {line}\n" for key, line in enumerate(lines, start=1))
    text = (heading + "Enter a passcode or select one of the following options:\n\n" + menu
            + f"\nPasscode or option (1-{len(lines)}): ")
    return {"text": text, "factors": factors}


def default_factor(devices: Sequence[Device]) -> str:
    """The factor string of an automatic login: a push to the first device that takes one or calls, else a call;
    `auto` when no device can do either (/auth then answers as for `factor=auto`: no capable device)."""
    for number, device in enumerate(menu_devices(devices), start=1):
        if device.can_push:
            return f"push{number}"
        if device.can_phone:
            return f"voice{number}"
    return "auto"


@dataclass(frozen=True)
class Choice:
    """What a `prompt` parameter asks for: a factor for a device (None: the first capable one), or a passcode."""
    factor: str  # auto | push | phone | sms | passcode
    device_id: str | None = None
    passcode: str | None = None


class UnknownDevice(ValueError):
    """A factor string numbers a device the user does not have (`push3` for a user with two)."""


def read_choice(choice: str, devices: Sequence[Device]) -> Choice:
    """Read a `prompt` parameter: a factor string from the menu (or typed as such), `auto`, or anything else —
    what the person typed when it was not a menu key, which is a passcode."""
    choice = choice.strip()
    if choice.lower() == "auto":
        return Choice("auto")
    match = _CHOICE.fullmatch(choice)
    if match is None:
        return Choice("passcode", passcode=choice)
    factor = _CHOICE_FACTORS[match.group(1).lower()]
    if match.group(2) is None:
        return Choice(factor)
    numbered = menu_devices(devices)
    index = int(match.group(2)) - 1
    if index >= len(numbered):
        raise UnknownDevice(choice)
    return Choice(factor, device_id=numbered[index].device_id)


def enroll_prompt(portal_url: str) -> dict[str, Any]:
    """The `prompt` object of a preauth that answers `enroll`."""
    return {"text": f"Please enroll at {portal_url}"}
