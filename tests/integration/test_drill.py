"""`duomfa drill rotation`: our order loses no login while the secret rotates; the original's order does."""

from __future__ import annotations

import json
import subprocess
import sys


def drill(order: str, auths: int, directory: str = "normal") -> dict:
    result = subprocess.run([sys.executable, "-m", "duomfa", "drill", "rotation", "--auths", str(auths),
                             "--order", order, "--directory", directory, "--json"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    return json.loads(result.stdout)


def test_our_rotation_order_fails_no_login():
    result = drill("ours", 1000)
    assert set(result) == {"order", "directory", "sent", "accepted", "rejected", "timed_out",
                           "old_secret_refused", "duration_s"}
    assert result["sent"] >= 1000
    assert result["rejected"] == 0 and result["timed_out"] == 0
    assert result["accepted"] == result["sent"]
    assert result["old_secret_refused"] is True  # the rotation finished: the previous secret is gone


def test_a_slow_directory_that_hides_the_update_still_fails_no_login():
    # the directory keeps showing its old Completed and starts signing with the new secret only after the
    # updater's settle time: the previous secret must outlive that, and be retired in the end
    result = drill("ours", 1000, directory="slow")
    assert result["directory"] == "slow"
    assert result["rejected"] == 0 and result["timed_out"] == 0, result
    assert result["old_secret_refused"] is True


def test_the_originals_order_shows_its_failure_window():
    result = drill("seed", 500)
    assert result["rejected"] + result["timed_out"] > 50
    assert result["accepted"] > 0
