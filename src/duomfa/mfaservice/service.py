"""What the Auth API endpoints decide: preauth, auth, auth_status, enroll — Duo's parameters and answers.

Transport-free: handlers in `api` pass parsed parameters in and send back what comes out, so this is where the
policy lives (lockout, bypass, replay, push timeouts), readable without HTTP around it. The synchronous methods
touch the store and run on the store worker (`MfaService.run`); only waiting for a person happens on the event loop.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from duomfa.mfaservice import otp
from duomfa.mfaservice.auditlog import AuditLog
from duomfa.mfaservice.prompt import UnknownDevice, enroll_prompt, login_prompt, masked_number, read_choice
from duomfa.mfaservice.push import PushBroker
from duomfa.mfaservice.store import Device, Integration, Store, Transaction, User
from duomfa.mfaservice.worker import P, StoreWorker, T

SUCCESS_MSG = "Success. Logging you in..."
DENIED_MSG = "Login request denied."
WRONG_PASSCODE_MSG = "Incorrect passcode. Please try again."
SMS_SENT_MSG = "New SMS passcodes sent."
PUSHED_MSG = "Pushed a login request to your device..."
LOCKED_OUT_MSG = "Your account has been locked out due to excessive authentication failures."
DISABLED_MSG = "Your account is disabled."
BYPASS_MSG = "Allowing bypass user"
UNKNOWN_ALLOWED_MSG = "Allowing unknown user"
UNKNOWN_DENIED_MSG = "Access denied for unknown user"
ENROLL_MSG = "Enroll an authentication device to proceed"
ACTIVE_MSG = "Account is active"

SMS_BATCH = 10
SMS_DIGITS = 7
BYPASS_DIGITS = 9
PORTAL_VALID_SECS = 300
NEW_USER_POLICIES = ("enroll", "allow", "deny")
AUTH_FACTORS = ("auto", "push", "passcode", "phone", "sms", "prompt")


class ApiError(Exception):
    """A request Duo would refuse: HTTP status, Duo code, message and optional detail."""

    def __init__(self, http_status: int, code: int, message: str, detail: str | None = None):
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.message = message
        self.detail = detail


def missing(name: str) -> ApiError:
    return ApiError(400, 40001, "Missing required request parameters", name)


def invalid(detail: str) -> ApiError:
    return ApiError(400, 40002, "Invalid request parameters", detail)


@dataclass(frozen=True)
class Policy:
    new_user_policy: str = "enroll"
    lockout_threshold: int = 10  # consecutive failures; 0 turns lockout off
    push_timeout: float = 60.0
    long_poll: float = 15.0  # longest an /auth_status call waits for a decision


def flag(value: str | None) -> bool:
    """A yes/no parameter (`async`, `text_prompt`): "1" in form requests, "1" or true in a JSON body."""
    return value is not None and value.strip().lower() in ("1", "true")


def describe_device(device: Device) -> dict[str, Any]:
    """A device as preauth lists it."""
    if device.type == "token":
        return {"device": device.device_id, "type": "token", "name": device.name}
    number = masked_number(device.number)
    return {
        "device": device.device_id,
        "type": "phone",
        "number": number,
        "name": device.name,
        "display_name": f"{device.name} ({number})" if number else device.name,
        "capabilities": device.capabilities(),
    }


def parse_pushinfo(pushinfo: str) -> list[tuple[str, str]]:
    return urllib.parse.parse_qsl(pushinfo, keep_blank_values=True)


@dataclass(frozen=True)
class Pending:
    """An /auth that waits for a person: its transaction is stored; the answer comes from `finish_auth`."""
    transaction: Transaction
    asynchronous: bool  # async=1: answer with the txid at once


@dataclass(frozen=True)
class Decided:
    """An /auth decided without waiting for a person: a passcode, SMS passcodes sent, or the user's state (bypass,
    disabled, locked out, unknown and let through by policy)."""
    result: str
    status: str
    status_msg: str
    factor: str
    reason: str  # for the auth log
    username: str
    user_id: str | None  # None: an unknown user let through by policy
    device_id: str | None = None

    def answer(self) -> dict[str, Any]:
        return {"result": self.result, "status": self.status, "status_msg": self.status_msg}


class MfaService:
    def __init__(self, store: Store, auth_log: AuditLog, policy: Policy, base_url: str):
        self.store = store
        self.auth_log = auth_log
        self.policy = policy
        self.base_url = base_url.rstrip("/")
        self.worker = StoreWorker()
        self.broker = PushBroker(store, self.worker, self._out_of_band_decided)
        secret = store.get_setting("portal_key")
        if secret is None:
            secret = secrets.token_hex(32)
            store.set_setting("portal_key", secret)
        self._portal_key = bytes.fromhex(secret)

    async def run(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run store work on the store worker: the event loop keeps serving while it waits on the database."""
        return await self.worker.run(work, *args, **kwargs)

    def close(self) -> None:
        self.worker.close()

    # helpers
    def _log_auth(self, integration: Integration | None, username: str, factor: str, result: str, status: str,
                  reason: str, ipaddr: str, txid: str | None = None, device: str | None = None) -> None:
        self.auth_log.write(
            "auth", integration=integration.name if integration else None, username=username, factor=factor,
            result=result, status=status, reason=reason, ipaddr=ipaddr, txid=txid, device=device,
        )

    def _find_user(self, params: Mapping[str, str]) -> tuple[User | None, str]:
        username, user_id = params.get("username"), params.get("user_id")
        if username and user_id:
            raise invalid("username and user_id are exclusive")
        if user_id:
            user = self.store.user_by_id(user_id)
            if user is None:
                raise invalid("user_id")
            return user, user.username
        if not username:
            raise missing("username")
        return self.store.user_by_name(username), username

    def portal_url(self, ikey: str, username: str) -> str:
        expires = int(time.time()) + PORTAL_VALID_SECS
        payload = f"{expires}:{username}".encode()
        mac = hmac.new(self._portal_key, payload, hashlib.sha256).hexdigest()[:32]
        code = base64.urlsafe_b64encode(payload).decode("ascii").rstrip("=")
        return f"{self.base_url}/portal?" + urllib.parse.urlencode({"code": f"{code}.{mac}", "akey": ikey})

    def portal_username(self, code: str) -> str | None:
        """The username a self-enrollment link was issued for, if the link is genuine and not expired."""
        encoded, _, mac = code.partition(".")
        try:
            payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except ValueError:
            return None
        expected = hmac.new(self._portal_key, payload, hashlib.sha256).hexdigest()[:32]
        if not hmac.compare_digest(expected, mac):
            return None
        expires, _, username = payload.decode("utf-8", "replace").partition(":")
        if not expires.isdigit() or int(expires) < time.time():
            return None
        return username

    # /preauth
    def preauth(self, integration: Integration, params: Mapping[str, str]) -> dict[str, Any]:
        """Duo's preauth; with `text_prompt=1`, also the text menu (`prompt`) that duo_unix-style clients show."""
        user, username = self._find_user(params)
        text_prompt = flag(params.get("text_prompt"))
        if user is None:
            policy = self.policy.new_user_policy
            if policy == "allow":
                return {"result": "allow", "status_msg": UNKNOWN_ALLOWED_MSG}
            if policy == "deny":
                return {"result": "deny", "status_msg": UNKNOWN_DENIED_MSG}
            return self._enroll_answer(integration, username, text_prompt)
        if user.status == "disabled":
            return {"result": "deny", "status_msg": DISABLED_MSG}
        if user.locked_out:
            return {"result": "deny", "status_msg": LOCKED_OUT_MSG}
        if user.status == "bypass":
            return {"result": "allow", "status_msg": BYPASS_MSG}
        devices = self.store.devices_of(user.user_id)
        if not devices:
            return self._enroll_answer(integration, username, text_prompt)
        nextcodes = {}  # device ID -> first digit of its next unused SMS passcode, as Duo lists it per device
        described = []
        for device in devices:
            entry = describe_device(device)
            if device.type == "phone":
                unused = [code for code, _, used in self.store.sms_inbox(device.device_id) if not used]
                if unused:
                    nextcodes[device.device_id] = entry["sms_nextcode"] = unused[0][0]
            described.append(entry)
        response: dict[str, Any] = {"result": "auth", "status_msg": ACTIVE_MSG, "devices": described}
        if text_prompt:
            response["prompt"] = login_prompt(username, devices, nextcodes)
        return response

    def _enroll_answer(self, integration: Integration, username: str, text_prompt: bool) -> dict[str, Any]:
        url = self.portal_url(integration.ikey, username)
        if not text_prompt:
            return {"result": "enroll", "status_msg": ENROLL_MSG, "enroll_portal_url": url}
        # a text client shows status_msg (older ones) or prompt.text: either way the person sees where to enroll
        prompt = enroll_prompt(url)
        return {"result": "enroll", "status_msg": prompt["text"], "enroll_portal_url": url, "prompt": prompt}

    # /auth
    def start_auth(self, integration: Integration, params: Mapping[str, str], txid: str) -> dict[str, Any] | Pending:
        """Everything /auth decides at once; a push or call is stored under `txid` and returned as Pending.

        With `async=1` every request gets a txid, whatever the factor and the user's state: what was decided here
        (a passcode used up, SMS passcodes sent, a bypass, disabled or locked-out user) is stored on the
        transaction, on disk before the txid goes out, and /auth_status reports it."""
        asynchronous = flag(params.get("async"))
        # one store transaction: a passcode is never used up without its outcome on record, nor the other way round
        # (and a request refused half-way, e.g. a busy database, changes nothing)
        with self.store.write():
            outcome = self._auth_outcome(integration, params, txid)
            if isinstance(outcome, Transaction):
                return Pending(outcome, asynchronous)
            if asynchronous:
                now = time.time()
                self.store.add_transaction(Transaction(
                    txid=txid, ikey=integration.ikey, user_id=outcome.user_id, device_id=outcome.device_id,
                    factor=outcome.factor, result=outcome.result, status=outcome.status,
                    status_msg=outcome.status_msg, ipaddr=params.get("ipaddr", ""), pushinfo="", display_username="",
                    login_type="", created_at=now, expires_at=now, decided_at=now,
                ))
        self._log_auth(integration, outcome.username, outcome.factor, outcome.result, outcome.status, outcome.reason,
                       params.get("ipaddr", ""), txid=txid if asynchronous else None, device=outcome.device_id)
        return {"txid": txid} if asynchronous else outcome.answer()

    def _auth_outcome(self, integration: Integration, params: Mapping[str, str], txid: str) -> Decided | Transaction:
        """/auth's decision, or the stored transaction of the push or call it started."""
        factor = params.get("factor")
        if not factor:
            raise missing("factor")
        if factor not in AUTH_FACTORS:
            raise invalid("factor")
        choice = params.get("prompt") if factor == "prompt" else None
        if factor == "prompt" and not choice:
            raise missing("prompt")
        user, username = self._find_user(params)
        if user is None:
            if self.policy.new_user_policy == "allow":
                return Decided("allow", "allow", UNKNOWN_ALLOWED_MSG, factor, "unknown user allowed by policy",
                               username, None)
            raise invalid("username")
        refused = self._refusal(user)
        if refused is not None:
            status, status_msg, reason = refused
            result = "allow" if status == "bypass" else "deny"
            return Decided(result, status, status_msg, factor, reason, user.username, user.user_id)
        requested_device = params.get("device")
        passcode = params.get("passcode")
        if choice is not None:  # factor=prompt: a factor string from the menu, or what the person typed
            try:
                chosen = read_choice(choice, self.store.devices_of(user.user_id))
            except UnknownDevice:
                raise invalid("prompt") from None
            factor, requested_device, passcode = chosen.factor, chosen.device_id, chosen.passcode
        if factor == "passcode":
            if not passcode:
                raise missing("passcode")
            return self._auth_passcode(user, passcode.strip())
        device = self._pick_device(user, factor, requested_device)
        if factor == "sms":
            codes = otp.new_numeric_codes(SMS_BATCH, SMS_DIGITS)
            self.store.replace_sms_codes(device.device_id, codes)
            return Decided("deny", "sent", SMS_SENT_MSG, factor, "sms passcodes sent", user.username, user.user_id,
                           device.device_id)
        if factor == "auto":
            factor = "push" if device.can_push else "phone"
        return self._start_out_of_band(integration, user, device, factor, params, txid)

    async def finish_auth(self, pending: Pending) -> dict[str, Any]:
        """The answer to an /auth that started a push or call: its txid, or (synchronous) its outcome."""
        txid = pending.transaction.txid
        self.broker.track(pending.transaction)
        if pending.asynchronous:
            return {"txid": txid}
        await self.broker.wait(txid, None)
        settled = await self.run(self.store.transaction, txid)
        if settled is None:  # removed with its user while it waited
            return {"result": "deny", "status": "deny", "status_msg": DENIED_MSG}
        return {"result": settled.result, "status": settled.status, "status_msg": settled.status_msg}

    async def auth(self, authenticate: Callable[[], Integration], params: Mapping[str, str]) -> dict[str, Any]:
        """/auth from start to finish. `authenticate` checks the request's signature and names its integration; it
        runs on the store worker in the same hop as the decision."""
        txid = str(uuid.uuid4())
        self.broker.expect(txid)
        try:
            started = await self.run(lambda: self.start_auth(authenticate(), params, txid))
        except BaseException:
            self.broker.forget(txid)
            raise
        if isinstance(started, Pending):
            return await self.finish_auth(started)
        self.broker.forget(txid)  # decided at once: no push or call to wait for
        return started

    def _refusal(self, user: User) -> tuple[str, str, str] | None:
        if user.status == "disabled":
            return "deny", DISABLED_MSG, "user disabled"
        if user.locked_out:
            return "locked_out", LOCKED_OUT_MSG, "user locked out"
        if user.status == "bypass":
            return "bypass", BYPASS_MSG, "bypass user"
        return None

    def _pick_device(self, user: User, factor: str, requested: str | None) -> Device:
        if factor == "auto" and not requested:
            raise missing("device")
        capable = {
            "auto": lambda d: d.can_push or d.can_phone,
            "push": lambda d: d.can_push,
            "phone": lambda d: d.can_phone,
            "sms": lambda d: d.can_sms,
        }[factor]
        devices = self.store.devices_of(user.user_id)
        if requested and requested != "auto":
            chosen = next((d for d in devices if d.device_id == requested), None)
            if chosen is None:
                raise invalid("device")
            if not capable(chosen):
                raise invalid("no capable device")
            return chosen
        chosen = next((d for d in devices if capable(d)), None)
        if chosen is None:
            raise invalid("no capable device")
        return chosen

    def _auth_passcode(self, user: User, passcode: str) -> Decided:
        matched, reason, device_id = self._check_passcode(user, passcode)
        if matched:
            if user.failed_attempts:
                self.store.record_success(user.user_id)
            return Decided("allow", "allow", SUCCESS_MSG, "passcode", reason, user.username, user.user_id, device_id)
        after = self.store.record_failure(user.user_id, self.policy.lockout_threshold)
        if after.locked_out:
            reason += f"; locked out after {after.failed_attempts} consecutive failures"
        return Decided("deny", "deny", WRONG_PASSCODE_MSG, "passcode", reason, user.username, user.user_id, device_id)

    def _check_passcode(self, user: User, passcode: str) -> tuple[bool, str, str | None]:
        """(accepted, reason for the log, device that matched). Each accepted passcode is used up here."""
        if not passcode.isdigit():
            return False, "malformed passcode", None
        if self.store.use_bypass_code(user.user_id, passcode):
            return True, "bypass code", None
        if self.store.use_sms_code(user.user_id, passcode):
            return True, "sms passcode", None
        replayed: str | None = None
        for device in self.store.devices_of(user.user_id):
            if device.totp_secret is not None:
                step = otp.totp_match_step(device.totp_secret, passcode)
                if step is not None:
                    if self.store.advance_totp(device.device_id, step):
                        return True, "totp passcode", device.device_id
                    replayed = device.device_id
            if device.hotp_secret is not None:
                counter = otp.hotp_match_counter(device.hotp_secret, passcode, device.hotp_counter,
                                                 digits=len(passcode) if len(passcode) in (6, 8) else 6)
                if counter is not None and self.store.advance_hotp(device.device_id, device.hotp_counter, counter + 1):
                    return True, "hotp passcode", device.device_id
        if replayed is not None:
            return False, "passcode already used", replayed
        return False, "incorrect passcode", None

    def _start_out_of_band(self, integration: Integration, user: User, device: Device, factor: str,
                           params: Mapping[str, str], txid: str) -> Transaction:
        now = time.time()
        status, status_msg = ("pushed", PUSHED_MSG) if factor == "push" else (
            "calling", f"Dialing {masked_number(device.number) or 'your phone'}...")
        transaction = Transaction(
            txid=txid, ikey=integration.ikey, user_id=user.user_id, device_id=device.device_id,
            factor=factor, result="waiting", status=status, status_msg=status_msg,
            ipaddr=params.get("ipaddr", ""), pushinfo=params.get("pushinfo", "")[:20000],
            display_username=params.get("display_username", ""), login_type=params.get("type", ""),
            created_at=now, expires_at=now + self.policy.push_timeout, decided_at=None,
        )
        self.store.add_transaction(transaction)
        return transaction

    def _out_of_band_decided(self, transaction: Transaction) -> None:
        if transaction.user_id is None:  # only decided-at-once transactions have no user, and nobody waits on them
            return
        user = self.store.user_by_id(transaction.user_id)
        username = user.username if user else transaction.user_id
        reason = {"allow": f"{transaction.factor} approved", "deny": f"{transaction.factor} denied",
                  "timeout": f"{transaction.factor} not answered in time"}.get(transaction.status, transaction.status)
        if transaction.result == "allow":
            self.store.record_success(transaction.user_id)
        elif transaction.status == "deny" and user is not None:
            after = self.store.record_failure(transaction.user_id, self.policy.lockout_threshold)
            if after.locked_out:
                reason += f"; locked out after {after.failed_attempts} consecutive failures"
        integration = self.store.integration_by_ikey(transaction.ikey)
        self._log_auth(integration, username, transaction.factor, transaction.result, transaction.status, reason,
                       transaction.ipaddr, txid=transaction.txid, device=transaction.device_id)

    async def answer(self, txid: str, approve: bool) -> bool:
        """A person's answer to a push or call (device page); False if it was already settled."""
        if approve:
            return await self.broker.decide(txid, "allow", "allow", SUCCESS_MSG)
        return await self.broker.decide(txid, "deny", "deny", DENIED_MSG)

    # /auth_status
    def check_auth_status(self, integration: Integration, params: Mapping[str, str]) -> Transaction:
        """The transaction an /auth_status asks about, if it is this integration's."""
        txid = params.get("txid")
        if not txid:
            raise missing("txid")
        transaction = self.store.transaction(txid)
        if transaction is None or transaction.ikey != integration.ikey:
            raise invalid("txid")
        return transaction

    async def finish_auth_status(self, transaction: Transaction) -> dict[str, Any]:
        """Answer at once the first time and when decided; otherwise long-poll for a decision."""
        if transaction.result == "waiting" and not self.broker.first_report(transaction.txid):
            await self.broker.wait(transaction.txid, self.policy.long_poll)
            settled = await self.run(self.store.transaction, transaction.txid)
            transaction = settled or transaction
        return {"result": transaction.result, "status": transaction.status, "status_msg": transaction.status_msg}

    # /enroll, /enroll_status
    def enroll(self, integration: Integration, params: Mapping[str, str]) -> dict[str, Any]:
        username = params.get("username") or f"user-{secrets.token_hex(4)}"
        try:
            valid_secs = int(params.get("valid_secs", "86400"))
            bypass_count = int(params.get("bypass_codes", "0"))
        except ValueError:
            raise invalid("valid_secs and bypass_codes must be integers") from None
        if not 1 <= valid_secs <= 30 * 86400:
            raise invalid("valid_secs")
        if not 0 <= bypass_count <= 10:
            raise invalid("bypass_codes")
        if self.store.user_by_name(username) is not None:
            raise invalid("username already exists")
        user = self.store.add_user(username)
        code = self.store.add_activation(user.user_id, valid_secs)
        activation_url = f"{self.base_url}/activate/{code}"
        response: dict[str, Any] = {
            "activation_barcode": f"{activation_url}/qr.png",
            "activation_code": code,
            "activation_url": activation_url,
            "expiration": int(time.time()) + valid_secs,
            "user_id": user.user_id,
            "username": user.username,
        }
        if bypass_count:
            codes = otp.new_numeric_codes(bypass_count, BYPASS_DIGITS)
            self.store.replace_bypass_codes(user.user_id, codes)
            response["bypass_codes"] = codes
        self.auth_log.write("enroll", integration=integration.name, username=user.username, user_id=user.user_id,
                            result="created")
        return response

    def enroll_status(self, integration: Integration, params: Mapping[str, str]) -> str:
        user_id, code = params.get("user_id"), params.get("activation_code")
        if not user_id:
            raise missing("user_id")
        if not code:
            raise missing("activation_code")
        activation = self.store.activation(code)
        if activation is None or activation["user_id"] != user_id:
            return "invalid"
        if activation["device_id"] is not None:
            return "success"
        if activation["expires_at"] < time.time():
            return "invalid"
        return "waiting"

    def activate(self, user: User) -> Device:
        """The device a person gets by opening an activation or self-enrollment link: push and passcodes."""
        return self.store.add_device(user.user_id, type="phone", name="Duo Mobile (duomfa)", can_push=True,
                                     totp_secret=otp.new_totp_secret())
