"""The admin commands as an admin runs them, and what survives a restart."""

from __future__ import annotations

import json
import sqlite3

import pyotp

from support import MfaServer, duomfa, duomfa_json


def test_app_add_prints_keys_ready_to_paste(tmp_path):
    app = duomfa_json("mfa", "app", "add", "vpn", "--data", str(tmp_path / "d"))
    assert set(app) == {"name", "ikey", "skey", "api_host", "ca_cert"}
    assert app["ikey"].startswith("DI") and len(app["ikey"]) == 20 and app["ikey"].isalnum()
    assert len(app["skey"]) == 40
    assert app["api_host"] == "127.0.0.1:8443"
    assert app["ca_cert"] == str(tmp_path / "d" / "tls" / "ca.pem") and (tmp_path / "d" / "tls" / "ca.pem").exists()
    again = duomfa("mfa", "app", "add", "vpn", "--data", str(tmp_path / "d"), check=False)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_user_add_prints_a_totp_uri_and_qr_code_and_device_link(tmp_path):
    data = str(tmp_path / "d")
    text = duomfa("mfa", "user", "add", "alice", "--data", data).stdout
    assert "otpauth://totp/duomfa:alice?secret=" in text
    assert "\u2588" in text  # the terminal QR code
    assert "https://127.0.0.1:8443/device/" in text
    bob = duomfa_json("mfa", "user", "add", "bob", "--phone", "+1 555 555 0188", "--data", data)
    assert "totp_uri" not in bob
    assert bob["devices"][0]["capabilities"] == ["auto", "sms", "phone"]
    assert bob["devices"][0]["number"] == "XXX-XXX-0188"
    listed = duomfa_json("mfa", "user", "list", "--data", data)
    assert [u["username"] for u in listed["users"]] == ["alice", "bob"]
    duomfa_json("mfa", "user", "remove", "alice", "--data", data)
    assert [u["username"] for u in duomfa_json("mfa", "user", "list", "--data", data)["users"]] == ["bob"]
    missing = duomfa("mfa", "user", "unlock", "alice", "--data", data, check=False)
    assert missing.returncode == 1 and "no user named 'alice'" in missing.stderr


def test_foreign_or_corrupt_data_directory_is_a_clear_error(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "important.txt").write_text("keep me")
    result = duomfa("mfa", "serve", "--data", str(foreign), "--port", "0", check=False)
    assert result.returncode == 1
    assert "not a duomfa MFA service data directory" in result.stderr
    assert (foreign / "important.txt").read_text() == "keep me"

    data = tmp_path / "d"
    duomfa("mfa", "app", "add", "x", "--data", str(data))
    (data / "mfa.sqlite3").write_bytes(b"\0garbage" * 512)
    for path in data.glob("mfa.sqlite3-*"):
        path.unlink()
    result = duomfa("mfa", "user", "list", "--data", str(data), check=False)
    assert result.returncode == 1 and "restore it from a backup" in result.stderr
    assert "Traceback" not in result.stderr


def test_restart_keeps_integrations_users_and_used_passcodes(tmp_path):
    data = tmp_path / "d"
    first = MfaServer(data).start()
    try:
        app = first.admin("app", "add", "vpn")
        user = first.admin("user", "add", "carol", "--totp")
        code = pyotp.parse_uri(user["totp_uri"]).now()
        answer = first.client(app["ikey"], app["skey"]).auth("passcode", username="carol", passcode=code)
        assert answer["result"] == "allow"
    finally:
        first.stop()
    second = MfaServer(data)
    second.port = first.port
    second.start()
    try:
        auth = second.client(app["ikey"], app["skey"])
        assert auth.check()["time"] > 0
        assert auth.preauth(username="carol")["devices"][0]["device"] == user["devices"][0]["device"]
        assert auth.auth("passcode", username="carol", passcode=code)["result"] == "deny"  # still used
    finally:
        second.stop()
    db = sqlite3.connect(data / "mfa.sqlite3")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_log_reads_the_authentication_log_per_user(tmp_path):
    data = tmp_path / "d"
    server = MfaServer(data).start()
    try:
        app = server.admin("app", "add", "vpn")
        for name in ("dave", "erin"):
            server.admin("user", "add", name, "--totp")
        auth = server.client(app["ikey"], app["skey"])
        auth.auth("passcode", username="dave", passcode="123456", ipaddr="203.0.113.5")
        auth.auth("passcode", username="erin", passcode="654321")
    finally:
        server.stop()
    entries = duomfa_json("mfa", "log", "--user", "dave", "--data", str(data))["entries"]
    assert len(entries) == 1
    assert entries[0]["username"] == "dave" and entries[0]["result"] == "deny" and entries[0]["ipaddr"] == "203.0.113.5"
    text = duomfa("mfa", "log", "--data", str(data)).stdout
    assert "dave" in text and "erin" in text
    admin_lines = [json.loads(line) for line in (data / "logs" / "admin.jsonl").read_text().splitlines()]
    assert [line["action"] for line in admin_lines] == ["app.add", "user.add", "user.add"]
