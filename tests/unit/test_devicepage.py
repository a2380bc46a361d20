"""What a pending request on the device page says: each detail once, under a readable label, escaped."""

from __future__ import annotations

import re

import pytest

from duomfa.mfaservice.devicepage import _render_pending, pushinfo_label, request_details
from duomfa.mfaservice.service import parse_pushinfo


def item(ipaddr="198.51.100.23", pushinfo=""):
    return {"txid": "a1b2", "kind": "push", "username": "alice", "time": "2026-01-01 00:00:00 UTC",
            "ipaddr": ipaddr, "type": "Login", "pushinfo": parse_pushinfo(pushinfo), "expires_at": 1060.0}


@pytest.mark.parametrize("key, label", [
    ("client_ip", "Client IP"), ("from", "From"), ("domain", "Domain"), ("user-agent", "User agent"),
    ("Client IP", "Client IP"), ("request_id", "Request ID"), ("", "Detail")])
def test_pushinfo_keys_get_readable_labels(key, label):
    assert pushinfo_label(key) == label


def test_the_client_ip_the_proxy_sends_twice_is_shown_once():
    rows = request_details(item(pushinfo="from=AWS+Directory+Service+%28duomfa%29&client_ip=198.51.100.23"))
    assert rows == [("User", "alice"), ("Time", "2026-01-01 00:00:00 UTC"), ("Client IP", "198.51.100.23"),
                    ("From", "AWS Directory Service (duomfa)")]


def test_a_pushinfo_client_ip_fills_a_missing_ipaddr_and_a_different_one_keeps_its_key():
    assert ("Client IP", "203.0.113.9") in request_details(item(ipaddr="", pushinfo="client_ip=203.0.113.9"))
    rows = request_details(item(pushinfo="client_ip=203.0.113.9"))
    assert rows[2:] == [("Client IP", "198.51.100.23"), ("Client IP (client_ip)", "203.0.113.9")]


def test_pushinfo_keys_and_values_are_escaped():
    page = _render_pending([item(pushinfo="note=%3Cscript%3Ealert(1)%3C%2Fscript%3E&%3Cb%3Ek%3C%2Fb%3E='x")],
                           "token", now=1000.0)
    assert "<script>" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;k&lt;/b&gt;" in page
    assert "&#x27;x" in page


def test_the_countdown_counts_to_the_request_expiry():
    page = _render_pending([item()], "token", now=1000.0)
    countdown = re.search(r"data-testid=expires-in data-expires-at='([\d.]+)'>(\d+) s<", page)
    assert countdown and float(countdown.group(1)) == 1060.0 and countdown.group(2) == "60"
