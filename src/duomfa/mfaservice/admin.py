"""Admin actions on the MFA service's data (integrations, users, devices, codes, pushes).

They work on the data directory directly, with or without the service running; each writes one line to the
admin log and returns a JSON-ready dict (secrets appear only where the admin asked for them: skey, codes).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from duomfa.mfaservice import otp
from duomfa.mfaservice.address import recorded_api_host
from duomfa.mfaservice.auditlog import AuditLog, operator
from duomfa.mfaservice.datadir import DataDir, Notify, open_data_dir, print_notice
from duomfa.mfaservice.service import DENIED_MSG, SUCCESS_MSG, describe_device
from duomfa.mfaservice.store import Device, Store, StoreError, User
from duomfa.mfaservice.tls import ensure_ca

USER_STATUSES = ("active", "bypass", "disabled")


class Admin:
    def __init__(self, data_path: Path | str | None, notify: Notify = print_notice):
        self.data_dir: DataDir = open_data_dir(data_path, notify=notify)
        self.store = Store(self.data_dir.database, notify=notify)
        self.admin_log = AuditLog(self.data_dir.admin_log)

    def close(self) -> None:
        self.store.close()

    def _log(self, action: str, **fields: Any) -> None:
        self.admin_log.write("admin", action=action, operator=operator(), **fields)

    @property
    def base_url(self) -> str:
        return f"https://{recorded_api_host(self.store)}"

    def device_view(self, device: Device) -> dict[str, Any]:
        view = describe_device(device)
        view["device_page"] = f"{self.base_url}/device/{device.page_token}"
        return view

    # integrations
    def add_app(self, name: str) -> dict[str, Any]:
        if not name.strip():
            raise StoreError("an integration needs a name")
        integration = self.store.add_integration(name)
        ensure_ca(self.data_dir)  # the ca_cert path printed below must exist before the first `serve`
        self._log("app.add", name=name, ikey=integration.ikey)
        return {"name": integration.name, "ikey": integration.ikey, "skey": integration.skey,
                "api_host": recorded_api_host(self.store), "ca_cert": str(self.data_dir.ca_cert)}

    def list_apps(self) -> dict[str, Any]:
        host = recorded_api_host(self.store)
        return {"integrations": [{"name": i.name, "ikey": i.ikey, "api_host": host} for i in self.store.integrations()]}

    def remove_app(self, name: str) -> dict[str, Any]:
        self.store.remove_integration(name)
        self._log("app.remove", name=name)
        return {"name": name, "removed": True}

    # users
    def add_user(self, username: str, *, totp: bool, push: bool, phone: str | None) -> dict[str, Any]:
        if not username.strip() or any(c.isspace() or not c.isprintable() for c in username):
            raise StoreError("a username needs printable characters and no spaces")
        if phone is not None and sum(c.isdigit() for c in phone) < 4:
            raise StoreError(f"--phone {phone!r} is not a phone number (use digits, e.g. +15555550100)")
        if not (totp or push or phone):
            totp = push = True  # a smartphone with Duo Mobile: the common case
        user = self.store.add_user(username)
        secret = otp.new_totp_secret() if totp else None
        device = self.store.add_device(
            user.user_id, type="phone", name="Phone" if phone else "Duo Mobile (duomfa)", number=phone or "",
            can_push=push, can_phone=phone is not None, can_sms=phone is not None, totp_secret=secret,
        )
        self._log("user.add", username=username, user_id=user.user_id, device=device.device_id,
                  capabilities=device.capabilities())
        result: dict[str, Any] = {"username": user.username, "user_id": user.user_id, "status": user.status,
                                  "devices": [self.device_view(device)]}
        if secret:
            result["totp_uri"] = otp.totp_uri(secret, user.username)
        return result

    def set_status(self, username: str, status: str) -> dict[str, Any]:
        if status not in USER_STATUSES:
            raise StoreError(f"status must be one of {', '.join(USER_STATUSES)}")
        user = self.store.require_user(username)
        self.store.set_user_status(user.user_id, status)
        self._log("user.status", username=user.username, old=user.status, new=status)
        return {"username": user.username, "status": status}

    def unlock(self, username: str) -> dict[str, Any]:
        user = self.store.require_user(username)
        self.store.unlock_user(user.user_id)
        self._log("user.unlock", username=user.username, was_locked_out=user.locked_out)
        return {"username": user.username, "locked_out": False, "was_locked_out": user.locked_out}

    def bypass_codes(self, username: str, count: int) -> dict[str, Any]:
        if not 1 <= count <= 100:
            raise StoreError("--count must be between 1 and 100")
        user = self.store.require_user(username)
        codes = otp.new_numeric_codes(count, 9)
        self.store.replace_bypass_codes(user.user_id, codes)
        self._log("user.bypass_codes", username=user.username, count=count)
        return {"username": user.username, "bypass_codes": codes}

    def _user_view(self, user: User) -> dict[str, Any]:
        return {"username": user.username, "user_id": user.user_id, "status": user.status,
                "locked_out": user.locked_out, "failed_attempts": user.failed_attempts,
                "devices": [self.device_view(d) for d in self.store.devices_of(user.user_id)]}

    def list_users(self) -> dict[str, Any]:
        return {"users": [self._user_view(u) for u in self.store.users()]}

    def show_user(self, username: str) -> dict[str, Any]:
        return self._user_view(self.store.require_user(username))

    def remove_user(self, username: str) -> dict[str, Any]:
        user = self.store.require_user(username)
        self.store.remove_user(user.user_id)
        self._log("user.remove", username=user.username, user_id=user.user_id)
        return {"username": user.username, "removed": True}

    def add_hotp(self, username: str, secret_hex: str, counter: int = 0) -> dict[str, Any]:
        user = self.store.require_user(username)
        try:
            secret = otp.hotp_secret_from_hex(secret_hex)
        except ValueError as exc:
            raise StoreError(str(exc)) from None
        device = self.store.add_hotp_token(user.user_id, secret, hotp_counter=counter)
        self._log("hotp.add", username=user.username, device=device.device_id)
        return {"username": user.username, "device": self.device_view(device)}

    # pushes
    def answer_push(self, username: str, approve: bool, txid: str | None = None) -> dict[str, Any]:
        user = self.store.require_user(username)
        waiting = [t for t in self.store.waiting_transactions(user_id=user.user_id) if t.expires_at > time.time()]
        if txid is not None:
            waiting = [t for t in waiting if t.txid == txid]
        if not waiting:
            raise StoreError(f"no pending push or call for {user.username}")
        transaction = waiting[-1]  # the newest: the one the person is looking at
        decided = self.store.decide(transaction.txid, "allow" if approve else "deny",
                                    "allow" if approve else "deny", SUCCESS_MSG if approve else DENIED_MSG)
        if not decided:
            raise StoreError(f"the request {transaction.txid} was answered meanwhile")
        self._log("push.approve" if approve else "push.deny", username=user.username, txid=transaction.txid)
        return {"username": user.username, "txid": transaction.txid, "result": "allow" if approve else "deny"}


def read_auth_log(data_path: Path | str | None, username: str | None = None) -> list[dict[str, Any]]:
    data_dir = open_data_dir(data_path, create=False)
    entries = AuditLog(data_dir.auth_log).read()
    if username is None:
        return list(entries)
    wanted = username.lower()
    return [e for e in entries if str(e.get("username", "")).lower() == wanted]
