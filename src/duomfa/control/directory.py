"""The directory updater: a reconciler that converges the directory's RADIUS settings on where the proxies are and on
the current shared secret, calling EnableRadius or UpdateRadius only when they differ, and retiring the previous
secret once the directory uses the new one (docs/design.md, "The directory updater")."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from duomfa.control.duo_keys import DuoKeysError, merge_into_current
from duomfa.control.runtime import (
    SettingsError,
    check_crypto,
    env_int,
    env_list,
    env_text,
    log,
    log_metrics,
    read_json_parameter,
    seconds_left,
    version_with,
)
from duomfa.emf import RADIUS_IN_SYNC, RADIUS_STATES
from duomfa.secret_document import (
    CURRENT,
    RADIUS_CLIENTS,
    RADIUS_SECRET,
    RETIRED_TAG,
    read_document,
    retired_tag_value,
    secret_digest,
)

DISPLAY_LABEL = "duomfa"
AUTHENTICATION_PROTOCOL = "PAP"  # what Duo's RADIUS expects; the proxy reads the factor from User-Password
FIRST_POLL_SECONDS = 5.0
MAX_POLL_SECONDS = 30.0
BACKOFF = 1.5
HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}"
                      r"[A-Za-z0-9])?)+$")


class DirectoryUpdateFailed(Exception):
    """Directory Service reported RadiusStatus Failed for the settings it was given."""


class DirectoryUpdateTimedOut(Exception):
    """The directory did not reach Completed or Failed before the deadline."""


class DirectoryNotFound(Exception):
    """DescribeDirectories does not know the directory ID."""


@dataclass(frozen=True)
class UpdaterSettings:
    directory_id: str
    secret_arn: str
    address_parameter: str
    state_parameter: str
    topic_arn: str
    port: int = 1812
    timeout: int = 30
    retries: int = 2
    retire_grace_seconds: int = 900
    deadline_seconds: float = 600
    nlb_addresses: tuple[str, ...] = ()
    mfa_enabled: bool = True  # the stack's DirectoryMfa switch: Disabled takes MFA off and keeps it off
    # a secret-only UpdateRadius cannot be seen in DescribeDirectories (it never returns the secret): believe a
    # Completed only this long after the call (AWS publishes no duration; the original's docs give the whole
    # rotation two to three minutes), and retire the old secret only after a later run sees Completed again
    secret_settle_seconds: int = 180
    metrics_namespace: str = ""  # where the directory's RADIUS status goes as a metric; empty: not published

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> UpdaterSettings:
        return cls(
            directory_id=env_text(environ, "DIRECTORY_ID"), secret_arn=env_text(environ, "SECRET_ARN"),
            address_parameter=env_text(environ, "ADDRESS_PARAMETER"),
            state_parameter=env_text(environ, "STATE_PARAMETER"),
            topic_arn=env_text(environ, "TOPIC_ARN"), port=env_int(environ, "RADIUS_PORT", 1812, 1025, 65535),
            timeout=env_int(environ, "RADIUS_TIMEOUT", 30, 1, 50), retries=env_int(environ, "RADIUS_RETRIES", 2, 0, 10),
            retire_grace_seconds=env_int(environ, "RETIRE_GRACE_SECONDS", 900, 0, 7 * 86400),
            deadline_seconds=env_int(environ, "DEADLINE_SECONDS", 600, 10, 840),
            nlb_addresses=env_list(environ, "NLB_ADDRESSES"),
            mfa_enabled=_mfa_switch(env_text(environ, "DIRECTORY_MFA", "Enabled")),
            secret_settle_seconds=env_int(environ, "SECRET_SETTLE_SECONDS", 180, 0, 600),
            metrics_namespace=environ.get("METRICS_NAMESPACE", "").strip(),
        )


def _mfa_switch(value: str) -> bool:
    if value not in ("Enabled", "Disabled"):
        raise SettingsError(f"DIRECTORY_MFA = {value!r}; allowed: Enabled, Disabled")
    return value == "Enabled"


@dataclass(frozen=True)
class Desired:
    """The RADIUS settings the directory should have. The shared secret stays out of repr and logs."""

    servers: tuple[str, ...]
    port: int
    timeout: int
    retries: int
    secret_version: str
    shared_secret: str = field(repr=False)

    def radius_settings(self) -> dict[str, Any]:
        """DS RadiusSettings: one RadiusServers entry per address (the original sent one comma-joined string)."""
        return {
            "RadiusServers": list(self.servers), "RadiusPort": self.port, "RadiusTimeout": self.timeout,
            "RadiusRetries": self.retries, "SharedSecret": self.shared_secret,
            "AuthenticationProtocol": AUTHENTICATION_PROTOCOL, "DisplayLabel": DISPLAY_LABEL, "UseSameUsername": True,
        }

    def matches(self, reported: Mapping[str, Any]) -> bool:
        """Whether DescribeDirectories' RadiusSettings (which never include the secret) say the same."""
        if sorted(reported.get("RadiusServers") or []) != sorted(self.servers):
            return False
        expected = {"RadiusPort": self.port, "RadiusTimeout": self.timeout, "RadiusRetries": self.retries,
                    "AuthenticationProtocol": AUTHENTICATION_PROTOCOL}
        return all(reported.get(key, value) == value for key, value in expected.items())

    def summary(self) -> dict[str, Any]:
        return {"servers": list(self.servers), "port": self.port, "timeout": self.timeout, "retries": self.retries,
                "secret_version": self.secret_version}


@dataclass(frozen=True)
class Applied:
    """What the last successful run applied (the state parameter)."""

    servers: tuple[str, ...]
    port: int
    secret_version: str
    applied_at: float
    secret_sha256: str = ""  # of the shared secret: a new version holding the same secret needs no update
    confirmed: bool = True  # False until a run after the settle time has seen Completed: no retirement before

    def same_secret(self, desired: Desired) -> bool:
        return self.secret_version == desired.secret_version or (
            bool(self.secret_sha256) and self.secret_sha256 == secret_digest(desired.shared_secret))


@dataclass
class Findings:
    """What this run has found so far; the failure notice reports it."""

    step: str = "starting"
    desired: Desired | None = None
    status: str | None = None
    reported_servers: list[str] = field(default_factory=list)
    in_sync: bool = False  # the directory reports Completed with the desired settings


# --- reading the desired and the applied state ----------------------------------------------------------------

def _is_ipv4(text: Any) -> bool:
    try:
        return isinstance(text, str) and ipaddress.ip_address(text).version == 4
    except ValueError:
        return False


def desired_settings(ssm: Any, secretsmanager: Any, settings: UpdaterSettings) -> Desired | None:
    """The settings the directory should have, or None when there is no address to point it at yet."""
    if settings.nlb_addresses:
        servers = list(settings.nlb_addresses)
        if not all(_is_ipv4(server) or HOSTNAME.match(server) for server in servers):
            raise ValueError(f"NLB_ADDRESSES holds something that is neither an IPv4 address nor a host name: "
                             f"{servers}")
    else:
        document = read_json_parameter(ssm, settings.address_parameter)
        listed = document.get("addresses") if isinstance(document, dict) else None
        servers = listed if isinstance(listed, list) else []
        if not isinstance(listed, list) or not servers or not all(_is_ipv4(server) for server in servers):
            log("directory_updater", level="WARNING", found=f"{settings.address_parameter} holds no address list "
                "(seed value, empty or invalid)", did="nothing: the directory is never pointed at nothing or at a seed")
            return None
    answer = secretsmanager.get_secret_value(SecretId=settings.secret_arn, VersionStage=CURRENT)
    document = read_document(answer.get("SecretString"))
    if document is None:
        raise ValueError(f"the {CURRENT} secret is not a JSON object with a {RADIUS_SECRET}")
    shared_secret = document[RADIUS_SECRET]
    if not 8 <= len(shared_secret) <= 512:
        raise ValueError("the AWSCURRENT radius_secret is not 8–512 characters, as Directory Service requires")
    unique = sorted(set(servers), key=lambda s: (not _is_ipv4(s), ipaddress.ip_address(s) if _is_ipv4(s) else s))
    return Desired(servers=tuple(unique), port=settings.port, timeout=settings.timeout, retries=settings.retries,
                   secret_version=answer["VersionId"], shared_secret=shared_secret)


def read_applied(ssm: Any, name: str) -> Applied | None:
    document = read_json_parameter(ssm, name)
    try:
        return Applied(servers=tuple(document["servers"]), port=int(document["port"]),
                       secret_version=str(document["secret_version"]), applied_at=float(document["applied_at"]),
                       secret_sha256=str(document.get("secret_sha256", "")),
                       confirmed=document.get("confirmed", True) is not False)
    except (TypeError, KeyError, ValueError):
        return None  # the stack's seed, or nothing applied yet


def write_applied(ssm: Any, name: str, desired: Desired, applied_at: float, *, confirmed: bool = True) -> None:
    value = {"servers": list(desired.servers), "port": desired.port, "secret_version": desired.secret_version,
             "applied_at": int(applied_at), "secret_sha256": secret_digest(desired.shared_secret),
             "confirmed": confirmed}
    ssm.put_parameter(Name=name, Value=json.dumps(value, separators=(",", ":")), Type="String", Overwrite=True)


PAUSED_STATE = {"paused": True}  # DirectoryMfa Disabled: nothing applied, nothing to retire, rotation may run


def write_paused(ssm: Any, name: str) -> None:
    ssm.put_parameter(Name=name, Value=json.dumps(PAUSED_STATE, separators=(",", ":")), Type="String",
                      Overwrite=True)


# --- the directory --------------------------------------------------------------------------------------------

def describe_directory(ds: Any, directory_id: str) -> dict[str, Any]:
    directories = ds.describe_directories(DirectoryIds=[directory_id]).get("DirectoryDescriptions") or []
    if not directories:
        raise DirectoryNotFound(f"directory {directory_id} was not found in this account and region")
    found: dict[str, Any] = directories[0]
    return found


def describe_radius(ds: Any, directory_id: str) -> tuple[str | None, dict[str, Any]]:
    """(RadiusStatus, RadiusSettings); (None, {}) when RADIUS was never enabled (the keys are absent)."""
    description = describe_directory(ds, directory_id)
    return description.get("RadiusStatus"), description.get("RadiusSettings") or {}


def domain_controller_addresses(description: Mapping[str, Any]) -> list[str]:
    """The addresses the directory's RADIUS requests come from: Managed AD's DnsIpAddrs, AD Connector's ConnectIps."""
    found = description.get("DnsIpAddrs") or (description.get("ConnectSettings") or {}).get("ConnectIps") or []
    return sorted({a for a in found if _is_ipv4(a)}, key=ipaddress.ip_address)


def follow_domain_controllers(secretsmanager: Any, secret_arn: str, addresses: list[str]) -> str:
    """Keep the secret's radius_clients equal to the directory's domain controllers, so controllers added or
    replaced reach the proxies' client lists (they re-read the secret every 30 s) — the RADIUS secret and its
    versions' meaning untouched. "unknown" (no addresses reported), "unchanged", "updated" or "deferred"."""
    if not addresses:
        return "unknown"
    try:
        outcome = merge_into_current(secretsmanager, secret_arn, {RADIUS_CLIENTS: addresses})
    except DuoKeysError as exc:  # a rotation is in progress: the next run does it
        log("directory_updater", step="follow domain controllers", found=str(exc), did="nothing this time")
        return "deferred"
    if outcome == "updated":
        log("directory_updater", step="follow domain controllers", found=f"domain controllers {addresses}",
            did="wrote them to the secret's radius_clients")
    return outcome


def wait_for_radius(ds: Any, directory_id: str, done: Callable[[str | None, dict[str, Any]], bool], *,
                    deadline: float, clock: Callable[[], float], sleep: Callable[[float], None],
                    findings: Findings) -> tuple[str | None, dict[str, Any]]:
    """Poll DescribeDirectories with backoff (5 s growing to 30 s) until `done`, or raise at the deadline."""
    delay = FIRST_POLL_SECONDS
    while True:
        status, reported = describe_radius(ds, directory_id)
        findings.status, findings.reported_servers = status, list(reported.get("RadiusServers") or [])
        if done(status, reported):
            return status, reported
        if clock() + delay > deadline:
            raise DirectoryUpdateTimedOut(f"directory {directory_id} still reports RadiusStatus {status} while "
                                          f"{findings.step}")
        log("directory_updater", found=f"RadiusStatus {status}", did=f"waiting {delay:g} s", step=findings.step)
        sleep(delay)
        delay = min(delay * BACKOFF, MAX_POLL_SECONDS)


def plan(desired: Desired, applied: Applied | None, status: str | None, reported: Mapping[str, Any]) -> str:
    """"enable", "update" or "in_sync" (status is never Creating here: the caller waited)."""
    if status is None or status == "Failed":
        return "enable"
    in_sync = (status == "Completed" and desired.matches(reported) and applied is not None
               and applied.same_secret(desired)
               and sorted(applied.servers) == sorted(desired.servers) and applied.port == desired.port)
    return "in_sync" if in_sync else "update"


def apply(ds: Any, directory_id: str, desired: Desired, action: str) -> str:
    if action == "enable":
        try:
            ds.enable_radius(DirectoryId=directory_id, RadiusSettings=desired.radius_settings())
            return "EnableRadius"
        except ds.exceptions.EntityAlreadyExistsException:
            pass  # a Failed configuration still exists: replace it
    ds.update_radius(DirectoryId=directory_id, RadiusSettings=desired.radius_settings())
    return "UpdateRadius"


# --- retiring the previous secret -----------------------------------------------------------------------------

def retire_previous(secretsmanager: Any, secret_arn: str, applied_version: str, retire_at: float) -> str:
    """Tag AWSPREVIOUS for retirement at `retire_at`, once the directory uses `applied_version` (AWSCURRENT).

    A tag already naming the same version is kept (its time is not moved); a tag naming an older version is replaced.
    """
    description = secretsmanager.describe_secret(SecretId=secret_arn)
    stages = description.get("VersionIdsToStages", {})
    current, previous = version_with(stages, "AWSCURRENT"), version_with(stages, "AWSPREVIOUS")
    existing = next((t.get("Value", "") for t in description.get("Tags", []) if t.get("Key") == RETIRED_TAG), "")
    if current != applied_version:
        found, did, outcome = f"AWSCURRENT is now {current}, not {applied_version}", "nothing: a later run", "newer"
    elif previous is None:
        found, did, outcome = "no AWSPREVIOUS version", "nothing", "none"
    elif existing.rpartition("@")[0] == previous:
        found, did, outcome = f"AWSPREVIOUS {previous} already tagged {existing}", "nothing", "kept"
    else:
        value = retired_tag_value(previous, retire_at)
        secretsmanager.tag_resource(SecretId=secret_arn, Tags=[{"Key": RETIRED_TAG, "Value": value}])
        found = f"AWSPREVIOUS {previous}, tag was {existing or 'absent'}"
        did, outcome = f"tagged {RETIRED_TAG}={value}", "tagged"
    log("directory_updater", step="retire previous secret", found=found, did=did)
    return outcome


# --- one run --------------------------------------------------------------------------------------------------

MAX_ROUNDS = 3  # apply, then the latest desired settings again if they changed meanwhile (an overlapping run)


def applied_or_failed(desired: Desired, settle_until: float, clock: Callable[[], float],
                      superseded: Callable[[], bool]) -> Callable[[str | None, dict[str, Any]], bool]:
    """When to stop waiting after an update: Failed; Completed with the desired settings after the settle time; or
    Completed with other settings because another run applied newer ones (`superseded`: re-plan with those)."""
    def done(status: str | None, reported: dict[str, Any]) -> bool:
        if status == "Failed":
            return True
        if status != "Completed":
            return False
        if desired.matches(reported):
            return clock() >= settle_until
        return superseded()
    return done


def radius_state(findings: Findings, paused: bool) -> str:
    """What the directory's RADIUS is, for the status metric: one of RADIUS_STATES."""
    if paused:
        return "paused"
    if findings.status is None:
        return "absent"
    if findings.status in ("Creating", "Failed"):
        return findings.status.lower()
    return "completed" if findings.in_sync else "differs"


def pause(*, ds: Any, ssm: Any, settings: UpdaterSettings, findings: Findings) -> str:
    """DirectoryMfa Disabled: take RADIUS off the directory (once) and keep it off; never enable or update."""
    findings.step = "pausing MFA"
    status, _ = describe_radius(ds, settings.directory_id)
    findings.status = status
    if status is None:
        log("directory_updater", found="DirectoryMfa Disabled; RADIUS is off", did="nothing")
        outcome = "paused"
    else:
        ds.disable_radius(DirectoryId=settings.directory_id)
        findings.status = None
        log("directory_updater", level="WARNING", found=f"DirectoryMfa Disabled; RadiusStatus {status}",
            did="called DisableRadius: logins no longer ask for MFA until DirectoryMfa is Enabled again")
        outcome = "DisableRadius"
    write_paused(ssm, settings.state_parameter)
    return outcome


def reconcile(*, ds: Any, ssm: Any, secretsmanager: Any, settings: UpdaterSettings, findings: Findings,
              clock: Callable[[], float], sleep: Callable[[float], None], now: Callable[[], float]) -> str:
    if not settings.mfa_enabled:
        return pause(ds=ds, ssm=ssm, settings=settings, findings=findings)
    deadline = clock() + settings.deadline_seconds
    findings.step = "reading the desired settings"
    desired = desired_settings(ssm, secretsmanager, settings)
    if desired is None:
        return "no_addresses"
    findings.desired = desired
    applied = read_applied(ssm, settings.state_parameter)
    findings.step = "describing the directory"
    description = describe_directory(ds, settings.directory_id)
    status, reported = description.get("RadiusStatus"), description.get("RadiusSettings") or {}
    findings.status, findings.reported_servers = status, list(reported.get("RadiusServers") or [])
    findings.step = "following the domain controllers"
    if follow_domain_controllers(secretsmanager, settings.secret_arn,
                                 domain_controller_addresses(description)) == "updated":
        desired = desired_settings(ssm, secretsmanager, settings) or desired  # a new version, the same secret
        findings.desired = desired
    called = "nothing"
    for _ in range(MAX_ROUNDS):
        if status == "Creating":
            log("directory_updater", found="RadiusStatus Creating: an earlier update is still being applied",
                did="waiting for it to settle before applying", desired=desired.summary())
            findings.step = "waiting for an earlier update to settle"
            status, reported = wait_for_radius(ds, settings.directory_id, lambda s, _: s != "Creating",
                                               deadline=deadline, clock=clock, sleep=sleep, findings=findings)
        action = plan(desired, applied, status, reported)
        if action == "in_sync":
            assert applied is not None
            findings.in_sync = True
            return settled(ssm=ssm, secretsmanager=secretsmanager, settings=settings, desired=desired,
                           applied=applied, status=status, now=now, called=called)
        secret_changes = applied is not None and not applied.same_secret(desired)
        findings.step = f"{action} RADIUS"
        called = apply(ds, settings.directory_id, desired, action)
        called_at = clock()
        log("directory_updater", found=f"RadiusStatus {status}, servers {sorted(reported.get('RadiusServers') or [])}, "
            f"last applied {applied.secret_version if applied else 'nothing'}", did=f"called {called}",
            desired=desired.summary())
        findings.step = f"waiting for the directory to apply {called}"
        sleep(FIRST_POLL_SECONDS)
        # a secret change is invisible in DescribeDirectories: a Completed counts only after the settle time
        settle_until = called_at + (settings.secret_settle_seconds if secret_changes else 0)
        def superseded(current: Desired = desired) -> bool:
            return (desired_settings(ssm, secretsmanager, settings) or current) != current

        status, reported = wait_for_radius(ds, settings.directory_id,
                                           applied_or_failed(desired, settle_until, clock, superseded),
                                           deadline=deadline, clock=clock, sleep=sleep, findings=findings)
        if status == "Failed":
            raise DirectoryUpdateFailed(f"directory {settings.directory_id} reports RadiusStatus Failed after {called}")
        if not desired.matches(reported):  # another run applied newer settings meanwhile: plan again with them
            desired = findings.desired = desired_settings(ssm, secretsmanager, settings) or desired
            applied = read_applied(ssm, settings.state_parameter)
            log("directory_updater", found="another run applied newer settings while this one waited",
                did="planning again with the latest", desired=desired.summary())
            continue
        applied_at = now()
        write_applied(ssm, settings.state_parameter, desired, applied_at, confirmed=not secret_changes)
        applied = read_applied(ssm, settings.state_parameter)
        log("directory_updater", found="RadiusStatus Completed with the desired settings",
            did="recorded the state" + (" (the old secret stays valid until a later run confirms)"
                                        if secret_changes else ""), desired=desired.summary())
        # another run may have moved the proxies or the secret meanwhile: converge on the latest, not on ours
        findings.step = "reading the desired settings again"
        latest = desired_settings(ssm, secretsmanager, settings) or desired
        if latest == desired:
            findings.in_sync = True
            if not secret_changes:
                retire_previous(secretsmanager, settings.secret_arn, desired.secret_version,
                                applied_at + settings.retire_grace_seconds)
            return called
        log("directory_updater", found="the desired settings changed while this run applied them",
            did="applying the latest", desired=latest.summary())
        desired = findings.desired = latest
    raise DirectoryUpdateTimedOut(f"the desired settings kept changing over {MAX_ROUNDS} updates; the next run "
                                  "continues")


def settled(*, ssm: Any, secretsmanager: Any, settings: UpdaterSettings, desired: Desired, applied: Applied,
            status: str | None, now: Callable[[], float], called: str) -> str:
    """In sync: record a newer version of the same secret, confirm an unconfirmed secret change, retire."""
    if not applied.confirmed:
        applied_at = now()  # the grace period runs from the run that saw Completed after the settle time
        write_applied(ssm, settings.state_parameter, desired, applied_at)
        log("directory_updater", found=f"RadiusStatus {status} again after the settle time",
            did="confirmed the new secret; the previous one is retired after the grace period",
            secret_version=desired.secret_version)
    elif applied.secret_version != desired.secret_version:
        # the same shared secret in a newer version (Duo keys or client list changed): record it, so rotation
        # knows the directory has caught up, and keep the time it was really applied
        applied_at = applied.applied_at
        write_applied(ssm, settings.state_parameter, desired, applied_at)
    else:
        applied_at = applied.applied_at
    log("directory_updater", found=f"in sync: RadiusStatus {status}, servers {desired.servers}, secret version "
        f"{desired.secret_version}", did="nothing" if called == "nothing" else f"nothing more after {called}")
    retire_previous(secretsmanager, settings.secret_arn, desired.secret_version,
                    applied_at + settings.retire_grace_seconds)
    return "in_sync" if called == "nothing" else called


def failure_notice(settings: UpdaterSettings, findings: Findings, exc: BaseException) -> tuple[str, str]:
    """(subject, message) for SNS: what happened, what was wanted and found, what to check. Never the secret."""
    what = f"{type(exc).__name__}: {exc}"
    wanted = (f"servers {', '.join(findings.desired.servers)} on UDP port {findings.desired.port}, secret version "
              f"{findings.desired.secret_version}" if findings.desired else "not worked out yet")
    message = "\n".join([
        f"duomfa could not bring the RADIUS settings of directory {settings.directory_id} up to date.",
        "",
        f"What happened: {what}",
        f"While: {findings.step}",
        f"Wanted: {wanted}",
        f"Directory reported: RadiusStatus {findings.status or 'not configured'}, servers "
        f"{', '.join(findings.reported_servers) or 'none'}",
        "",
        "What to check:",
        f"- the directory's security group allows outbound UDP {settings.port} to the proxies' security group (or "
        "the NLB): Managed AD's default egress only reaches its own group;",
        f"- the proxies are running and healthy and answer on UDP {settings.port} from the directory's addresses "
        "(their radius_clients), and reach Duo on TCP 443;",
        "- `duomfa doctor --stack STACK` checks all of the above;",
        "- the updater's CloudWatch log for the JSON lines of this run.",
        "",
        "The updater runs again on its schedule and retries by itself. Until it succeeds the directory keeps its "
        "previous settings (if RadiusStatus is Failed, MFA logins fail now); the previous shared secret stays valid.",
    ])
    return f"duomfa: RADIUS update of directory {settings.directory_id} failed"[:100], message


def run(*, ds: Any, ssm: Any, secretsmanager: Any, sns: Any, settings: UpdaterSettings,
        clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], float] = time.time) -> str:
    """One reconciliation and the status metric; on any failure, an SNS notice and the exception raised again."""
    findings = Findings()
    try:
        outcome = reconcile(ds=ds, ssm=ssm, secretsmanager=secretsmanager, settings=settings, findings=findings,
                            clock=clock, sleep=sleep, now=now)
    except Exception as exc:
        publish_status(settings, findings)
        log("directory_updater", level="ERROR", found=f"{type(exc).__name__}: {exc}", step=findings.step,
            did="notifying SNS and failing the invocation")
        subject, message = failure_notice(settings, findings, exc)
        try:
            sns.publish(TopicArn=settings.topic_arn, Subject=subject, Message=message)
        except (ClientError, BotoCoreError) as publish_error:
            log("directory_updater", level="ERROR", found=f"SNS publish failed: {publish_error}", did="nothing more")
        raise
    publish_status(settings, findings)
    return outcome


def publish_status(settings: UpdaterSettings, findings: Findings) -> None:
    """The directory's RADIUS status as metrics, once per run: RadiusInSync is 1 while MFA works as desired or is
    deliberately paused and 0 otherwise (the stack alarms when it stays 0); Radius_<state> is 1 for the state."""
    state = radius_state(findings, paused=not settings.mfa_enabled)
    if settings.metrics_namespace:
        log_metrics("directory_radius_status", settings.metrics_namespace,
                    {RADIUS_IN_SYNC: 1.0 if state in ("completed", "paused") else 0.0,
                     **{f"Radius_{name}": 1.0 if name == state else 0.0 for name in RADIUS_STATES}},
                    dimensions={"DirectoryId": settings.directory_id}, state=state)


def handler(event: dict[str, Any], context: Any, client: Any = None) -> str:
    """Schedule / Parameter Store / ECS / finishSecret → updater. Env: DIRECTORY_ID, SECRET_ARN, ADDRESS_PARAMETER,
    STATE_PARAMETER, TOPIC_ARN, RADIUS_PORT, RADIUS_TIMEOUT, RADIUS_RETRIES, RETIRE_GRACE_SECONDS, DEADLINE_SECONDS,
    NLB_ADDRESSES, DIRECTORY_MFA, SECRET_SETTLE_SECONDS, METRICS_NAMESPACE."""
    check_crypto(os.environ)
    client = client or boto3.client
    settings = UpdaterSettings.from_environ(os.environ)
    settings = dataclasses.replace(settings, deadline_seconds=seconds_left(settings.deadline_seconds, context))
    log("directory_updater", found=f"triggered by {event.get('source')} {event.get('detail-type') or ''} "
        f"{event.get('reason') or ''}".strip(), did="reconciling")
    return run(ds=client("ds"), ssm=client("ssm"), secretsmanager=client("secretsmanager"), sns=client("sns"),
               settings=settings)


# --- stack deletion: no directory left pointing at proxies that no longer exist -------------------------------

def disable_radius_on_delete(event: Mapping[str, Any], *, ds: Any, directory_id: str) -> dict[str, Any]:
    """custom_resources.Provider on_event: Delete → DisableRadius when RADIUS is configured; Create/Update → nothing.
    Returns the Provider's answer; an exception is the Provider's FAILED."""
    physical_id = event.get("PhysicalResourceId") or f"duomfa-radius-{directory_id}"
    request = event.get("RequestType")
    if request != "Delete":
        log("disable_radius_on_delete", found=f"{request} request", did="nothing", directory=directory_id)
        return {"PhysicalResourceId": physical_id}
    try:
        status, _ = describe_radius(ds, directory_id)
    except (DirectoryNotFound, ds.exceptions.EntityDoesNotExistException):
        log("disable_radius_on_delete", found=f"directory {directory_id} no longer exists", did="nothing")
        return {"PhysicalResourceId": physical_id}
    if status is None:
        log("disable_radius_on_delete", found="RADIUS is not configured", did="nothing", directory=directory_id)
        return {"PhysicalResourceId": physical_id}
    ds.disable_radius(DirectoryId=directory_id)
    log("disable_radius_on_delete", found=f"RadiusStatus {status}", did="called DisableRadius", directory=directory_id)
    return {"PhysicalResourceId": physical_id}


def custom_resource_handler(event: dict[str, Any], context: Any, client: Any = None) -> dict[str, Any]:
    """CloudFormation (through the Provider framework) → DisableRadius on Delete.
    Env: DIRECTORY_ID (the resource's DirectoryId property wins when set)."""
    check_crypto(os.environ)
    client = client or boto3.client
    directory_id = (event.get("ResourceProperties") or {}).get("DirectoryId") or os.environ["DIRECTORY_ID"]
    return disable_radius_on_delete(event, ds=client("ds"), directory_id=directory_id)
