"""Duo's text menu and the choices a client sends back, as pure functions of a user's devices."""

from __future__ import annotations

import pytest

from duomfa.mfaservice.prompt import (
    Choice,
    UnknownDevice,
    default_factor,
    enroll_prompt,
    login_prompt,
    masked_number,
    menu_devices,
    read_choice,
)
from duomfa.mfaservice.store import Device


def device(device_id: str, *, name: str = "Phone", number: str = "", push: bool = False, phone: bool = False,
           sms: bool = False, totp: bool = False, token: bool = False) -> Device:
    return Device(device_id=device_id, user_id="DU1", type="token" if token else "phone", name=name, number=number,
                  can_push=push, can_phone=phone, can_sms=sms, totp_secret="JBSWY3DPEHPK3PXP" if totp else None,
                  totp_last_step=-1, hotp_secret="GEZDGNBVGY3TQOJQ" if token else None, hotp_counter=0,
                  page_token="t")


PHONE = device("DP1", number="+1 (555) 555-1234", push=True, phone=True, sms=True, totp=True)


def test_a_phone_that_does_everything_gets_duos_three_line_menu():
    assert login_prompt("alice", [PHONE], {}) == {
        "text": "Duo two-factor login for alice\n\nEnter a passcode or select one of the following options:\n\n"
                " 1. Duo Push to XXX-XXX-1234\n 2. Phone call to XXX-XXX-1234\n 3. SMS passcodes to XXX-XXX-1234\n\n"
                "Passcode or option (1-3): ",
        "factors": {"1": "push1", "2": "voice1", "3": "smsrefresh1", "default": "push1"},
    }


def test_outstanding_sms_passcodes_say_which_comes_next():
    text = login_prompt("alice", [PHONE], {"DP1": "4"})["text"]
    assert " 3. SMS passcodes to XXX-XXX-1234 (next code starts with: 4)\n" in text


def test_devices_are_numbered_in_order_skipping_those_with_nothing_to_offer():
    totp_only = device("DP0", name="Authenticator", totp=True)
    token = device("DH0", name="HOTP token 1", token=True)
    app = device("DP2", name="Duo Mobile (duomfa)", push=True, totp=True)
    desk = device("DP3", name="Desk", number="5555559876", phone=True)
    devices = [totp_only, token, app, desk]
    assert menu_devices(devices) == [app, desk]
    prompt = login_prompt("bob", devices, {})
    assert prompt["factors"] == {"1": "push1", "2": "voice2", "default": "push1"}
    assert " 1. Duo Push to Duo Mobile (duomfa)\n 2. Phone call to XXX-XXX-9876\n" in prompt["text"]
    assert "(1-2)" in prompt["text"]


@pytest.mark.parametrize("devices, expected", [
    ([PHONE], "push1"),
    ([device("DP1", phone=True, sms=True), device("DP2", push=True)], "voice1"),  # the first that can, as auto does
    ([device("DP1", sms=True)], "auto"),
    ([device("DP1", totp=True)], "auto"),
    ([], "auto"),
])
def test_default_is_what_an_automatic_login_does(devices, expected):
    assert default_factor(devices) == expected


def test_a_user_with_passcodes_only_is_asked_for_a_passcode():
    assert login_prompt("carol", [device("DP1", totp=True)], {}) == {
        "text": "Duo two-factor login for carol\n\nEnter a passcode: ", "factors": {"default": "auto"}}


@pytest.mark.parametrize("sent, expected", [
    ("push1", Choice("push", "DP1")),
    ("voice1", Choice("phone", "DP1")),
    ("phone1", Choice("phone", "DP1")),
    ("smsrefresh1", Choice("sms", "DP1")),
    ("sms1", Choice("sms", "DP1")),
    ("push2", Choice("push", "DP2")),
    ("PUSH2", Choice("push", "DP2")),
    ("push", Choice("push")),
    ("sms", Choice("sms")),
    ("auto", Choice("auto")),
    ("123456", Choice("passcode", passcode="123456")),
    (" 1234567 ", Choice("passcode", passcode="1234567")),
    ("push1x", Choice("passcode", passcode="push1x")),  # not a factor string: what was typed, tried as a passcode
    ("push0", Choice("passcode", passcode="push0")),
])
def test_a_choice_is_a_factor_for_a_device_or_a_passcode(sent, expected):
    second = device("DP2", push=True)
    assert read_choice(sent, [device("DH0", token=True), PHONE, second]) == expected


def test_a_factor_string_for_a_device_the_user_lacks_is_refused():
    with pytest.raises(UnknownDevice):
        read_choice("push2", [PHONE])


def test_enroll_prompt_names_the_portal():
    assert enroll_prompt("https://x/portal?code=1") == {"text": "Please enroll at https://x/portal?code=1"}


@pytest.mark.parametrize("number, masked", [("+15555551234", "XXX-XXX-1234"), ("12", ""), ("", "")])
def test_numbers_are_masked_as_duo_shows_them(number, masked):
    assert masked_number(number) == masked
