"""`duomfa drill rotation`: our order loses no login while the secret rotates; the original's order does."""

from __future__ import annotations

import json
import subprocess
import sys


def drill(order: str, auths: int) -> dict:
    result = subprocess.run([sys.executable, "-m", "duomfa", "drill", "rotation", "--auths", str(auths),
                             "--order", order, "--json"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    return json.loads(result.stdout)


def test_our_rotation_order_fails_no_login():
    result = drill("ours", 1000)
    assert set(result) == {"order", "sent", "accepted", "rejected", "timed_out", "duration_s"}
    assert result["sent"] >= 1000
    assert result["rejected"] == 0 and result["timed_out"] == 0
    assert result["accepted"] == result["sent"]


def test_the_originals_order_shows_its_failure_window():
    result = drill("seed", 500)
    assert result["rejected"] + result["timed_out"] > 50
    assert result["accepted"] > 0
