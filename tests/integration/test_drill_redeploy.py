"""`duomfa drill redeploy`: behind the load balancer a rolling deployment fails no login; with the proxies' own
addresses in the directory the original's order shows its failure window, and ours makes it smaller."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SUMMARY = {"layout", "order", "sent", "accepted", "rejected", "timed_out", "duration_s"}


def drill(layout: str, order: str, auths: int = 2000) -> dict:
    result = subprocess.run([sys.executable, "-m", "duomfa", "drill", "redeploy", "--auths", str(auths),
                             "--layout", layout, "--order", order, "--json"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert set(summary) == SUMMARY
    assert (summary["layout"], summary["order"]) == (layout, order)
    assert summary["accepted"] + summary["rejected"] + summary["timed_out"] == summary["sent"] >= auths
    return summary


def failed(summary: dict) -> int:
    return summary["rejected"] + summary["timed_out"]


def test_behind_the_load_balancer_a_rolling_deployment_fails_no_login():
    summary = drill("nlb", "ours")
    assert failed(summary) == 0


@pytest.fixture(scope="module")
def seed_order():
    return drill("addresses", "seed")


def test_with_task_addresses_the_originals_order_shows_its_failure_window(seed_order):
    assert failed(seed_order) > 0
    assert seed_order["rejected"] == 0  # nobody is refused: the directory just has no live proxy to ask


def test_with_task_addresses_our_order_fails_fewer_logins_than_the_originals(seed_order):
    ours = drill("addresses", "ours")
    assert failed(ours) < failed(seed_order)
