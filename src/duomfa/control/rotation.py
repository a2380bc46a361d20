"""Secrets Manager rotation of the RADIUS shared secret with no failed login: the proxies accept the new secret before
the directory is given it, and keep the old one until the directory updater retires it. The four steps are each
safe to run again for the same token (docs/design.md, "The rotation")."""

from __future__ import annotations

import json
import os
import re
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

from duomfa import radius, secret_document
from duomfa.control.addresses import healthy_addresses, running_tasks
from duomfa.control.runtime import (
    check_crypto,
    env_int,
    env_text,
    log,
    log_metrics,
    read_json_parameter,
    seconds_left,
    version_stages,
    version_with,
)
from duomfa.emf import ROTATION_FAILED, ROTATION_SUCCEEDED
from duomfa.radius.exchange import status_server
from duomfa.radius_udp import exchange

SECRET_LENGTH = secret_document.SHARED_SECRET_LENGTH
EXCLUDE_CHARACTERS = secret_document.EXCLUDED_CHARACTERS
DIRECTORY_SECRET = re.compile(r"^[A-Za-z0-9" + re.escape(string.punctuation) + r" ]{8,512}$")

Probe = Callable[[str, int, bytes], bool]
StartUpdater = Callable[[str], None]


class RotationError(Exception):
    """The secret or its versions are not in a state this step can work from; the message says which."""


class ProxiesDidNotAnswer(RotationError):
    """testSecret: some proxy did not answer a Status-Server signed with the pending secret before the deadline."""


@dataclass(frozen=True)
class RotationSettings:
    cluster: str
    service: str
    radius_port: int
    updater_function: str
    deadline_seconds: int
    state_parameter: str = ""  # the directory updater's state; empty: no check that the directory caught up
    metrics_namespace: str = ""  # where the outcome metrics go (DuoMfa/STACK); empty: none

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> RotationSettings:
        return cls(cluster=env_text(environ, "CLUSTER"), service=env_text(environ, "SERVICE"),
                   radius_port=env_int(environ, "RADIUS_PORT", 1812, 1025, 65535),
                   updater_function=env_text(environ, "UPDATER_FUNCTION"),
                   deadline_seconds=env_int(environ, "DEADLINE_SECONDS", 600, 10, 840),
                   state_parameter=environ.get("STATE_PARAMETER", "").strip(),
                   metrics_namespace=environ.get("METRICS_NAMESPACE", "").strip())


# --- the stage checks every step starts with (AWS's rotation template) ----------------------------------------

def check_version(secretsmanager: Any, secret_id: str, token: str, step: str) -> bool:
    """True when `step` has work to do for `token`; False when the token is already AWSCURRENT (done); raises when
    rotation is off or the token is not a version being rotated."""
    description = secretsmanager.describe_secret(SecretId=secret_id)
    if not description.get("RotationEnabled"):
        raise RotationError(f"rotation is not enabled on secret {secret_id}")
    stages = description.get("VersionIdsToStages", {}).get(token)
    if stages is None:
        raise RotationError(f"version {token} of secret {secret_id} has no stage: it is not being rotated")
    if "AWSCURRENT" in stages:
        if step == "finishSecret" and "AWSPENDING" in stages:
            return True  # an earlier finishSecret promoted it but stopped before the end: finish the rest
        log("rotation", step=step, version=token, found="version is already AWSCURRENT", did="nothing")
        return False
    if "AWSPENDING" not in stages:
        raise RotationError(f"version {token} of secret {secret_id} is not AWSPENDING")
    return True


def _secret_document(answer: Mapping[str, Any], what: str) -> dict[str, Any]:
    document = secret_document.read_document(answer.get("SecretString"))
    if document is None:
        raise RotationError(f"the {what} secret is not a JSON object with a {secret_document.RADIUS_SECRET} string")
    return document


# --- createSecret ---------------------------------------------------------------------------------------------

def new_shared_secret(secretsmanager: Any) -> str:
    password = str(secretsmanager.get_random_password(
        PasswordLength=SECRET_LENGTH, ExcludeCharacters=EXCLUDE_CHARACTERS, IncludeSpace=False,
        RequireEachIncludedType=True)["RandomPassword"])
    if not DIRECTORY_SECRET.match(password) or any(character in EXCLUDE_CHARACTERS for character in password):
        raise RotationError("GetRandomPassword returned characters Directory Service or config files do not take")
    return password


def check_directory_caught_up(ssm: Any, state_parameter: str, current_version: str) -> None:
    """Refuse to start a rotation while the directory still uses the secret before AWSCURRENT: a new rotation would
    push that secret out of AWSPREVIOUS, the proxies would drop it, and every MFA login would fail until the
    updater catches up. Nothing applied yet (the state's seed) is no reason to refuse."""
    applied = read_json_parameter(ssm, state_parameter)
    applied_version = applied.get("secret_version") if isinstance(applied, dict) else None
    if isinstance(applied, dict) and applied.get("confirmed") is False:
        log("rotation", level="ERROR", step="createSecret", found=f"the directory's switch to secret version "
            f"{applied_version} is not confirmed yet", did="refused to rotate again")
        raise RotationError(f"the directory may still use the secret before {applied_version}: a later updater run "
                            "confirms the switch (within minutes); rotate after that")
    if applied_version is not None and applied_version != current_version:
        log("rotation", level="ERROR", step="createSecret", found=f"the directory uses secret version "
            f"{applied_version}, not AWSCURRENT {current_version}", did="refused to rotate again")
        raise RotationError(f"the directory still uses secret version {applied_version}, not the current "
                            f"{current_version}: let the directory updater finish (see its SNS notices) first")


def create_secret(secretsmanager: Any, secret_id: str, token: str, *, ssm: Any = None,
                  state_parameter: str = "") -> str:
    """Store the pending version once per token; a second call finds it and keeps it. Returns what was done.
    With `state_parameter`, refuse while the directory has not caught up with the current secret."""
    current = secretsmanager.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")
    document = _secret_document(current, "AWSCURRENT")
    try:
        secretsmanager.get_secret_value(SecretId=secret_id, VersionId=token, VersionStage="AWSPENDING")
    except secretsmanager.exceptions.ResourceNotFoundException:
        pass
    else:
        log("rotation", step="createSecret", version=token, found="the pending version already has a value",
            did="kept it")
        return "kept"
    if state_parameter:
        check_directory_caught_up(ssm, state_parameter, current["VersionId"])
    # Duo keys and clients carry over
    pending = {**document, secret_document.RADIUS_SECRET: new_shared_secret(secretsmanager)}
    secretsmanager.put_secret_value(SecretId=secret_id, ClientRequestToken=token, SecretString=json.dumps(pending),
                                    VersionStages=["AWSPENDING"])
    log("rotation", step="createSecret", version=token, current_version=current.get("VersionId"),
        found="no value for the pending version", did=f"stored a new {SECRET_LENGTH}-character shared secret as "
        "AWSPENDING, other fields copied from AWSCURRENT")
    return "created"


# --- setSecret ------------------------------------------------------------------------------------------------

ECR_IMAGE = re.compile(r"^(?P<registry>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
                       r"(?P<repository>[^:@]+)(?::(?P<tag>[^@]+))?(?:@(?P<digest>sha256:[0-9a-f]+))?$")


def _latest_digests(ecr: Any, containers: list[dict[str, Any]]) -> dict[str, str]:
    """{container name: digest the container's ECR tag points at now}, for containers whose image is an ECR tag."""
    latest: dict[str, str] = {}
    for container in containers:
        match = ECR_IMAGE.match(container.get("image", ""))
        if match is None or match["digest"]:
            continue  # not ECR, or pinned to a digest: no newer image can be waiting behind it
        answer = ecr.describe_images(registryId=match["registry"], repositoryName=match["repository"],
                                     imageIds=[{"imageTag": match["tag"] or "latest"}])
        details = answer.get("imageDetails") or []
        if details:
            latest[container["name"]] = details[0]["imageDigest"]
    return latest


def set_secret(ecs: Any, ecr: Any, cluster: str, service: str, token: str | None = None) -> str:
    """The proxies pick the pending secret up themselves. Force one deployment only when a newer image waits and
    none is under way; returns what was done ("forced", "no_new_image", "deployment_in_progress", "unknown").
    `token`: the pending version, named in every line (the per-rotation saved query finds them by it)."""
    described = ecs.describe_services(cluster=cluster, services=[service]).get("services") or []
    if not described:
        raise RotationError(f"ECS service {service} was not found in cluster {cluster}")
    deployments = described[0].get("deployments") or []
    definition = ecs.describe_task_definition(taskDefinition=described[0]["taskDefinition"])["taskDefinition"]
    try:
        latest = _latest_digests(ecr, definition.get("containerDefinitions") or [])
    except ClientError as exc:
        log("rotation", level="WARNING", step="setSecret", version=token,
            found=f"the image in ECR could not be read: {exc}", did="nothing: the proxies read the pending secret "
            "themselves")
        return "unknown"
    outdated = sorted({task["taskArn"].rsplit("/", 1)[-1] for task in running_tasks(ecs, cluster, service)
                       for container in task.get("containers") or []
                       if container.get("name") in latest
                       and container.get("imageDigest") != latest[container["name"]]})
    if not outdated:
        found = f"running tasks use the newest image {latest}" if latest else "no container image is an ECR tag"
        log("rotation", step="setSecret", version=token, found=found,
            did="nothing: the proxies read the pending secret themselves")
        return "no_new_image"
    in_progress = len(deployments) > 1 or any(d.get("rolloutState") == "IN_PROGRESS" for d in deployments)
    if in_progress:
        log("rotation", step="setSecret", version=token, found=f"{len(outdated)} task(s) run an older image; a "
            "deployment is already under way", did="nothing", tasks=outdated)
        return "deployment_in_progress"
    ecs.update_service(cluster=cluster, service=service, forceNewDeployment=True)
    log("rotation", step="setSecret", version=token,
        found=f"{len(outdated)} task(s) run an older image than {latest}", did="forced one new deployment",
        tasks=outdated)
    return "forced"


# --- testSecret -----------------------------------------------------------------------------------------------

def probe_status_server(address: str, port: int, secret: bytes, *, timeout: float = 1.0, attempts: int = 3) -> bool:
    """True when `address` answers a Status-Server (RFC 5997) signed with `secret` by an Access-Accept signed with
    it. A proxy that does not hold the secret stays silent, so "no" costs timeout × attempts."""
    result = exchange(status_server(secret, "duomfa-rotation"), address, port, timeout=timeout, attempts=attempts)
    return result.reply is not None and result.reply.code == radius.ACCESS_ACCEPT


def verify_secret(secretsmanager: Any, ecs: Any, secret_id: str, token: str, *, cluster: str, service: str,
                  port: int, probe: Probe = probe_status_server, deadline_seconds: float = 600, interval: float = 5.0,
                  clock: Callable[[], float] = time.monotonic,
                  sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """The testSecret step (not named test_… so pytest leaves it alone). Poll until every running, healthy proxy
    has answered with the pending secret (they re-read the secret every 30 s), or raise ProxiesDidNotAnswer at the
    deadline. Returns the addresses that answered."""
    pending = _secret_document(
        secretsmanager.get_secret_value(SecretId=secret_id, VersionId=token, VersionStage="AWSPENDING"), "AWSPENDING")
    shared_secret = pending[secret_document.RADIUS_SECRET].encode("utf-8")
    deadline = clock() + deadline_seconds
    answered: set[str] = set()
    while True:
        addresses, left_out = healthy_addresses(ecs, cluster, service)
        for address in addresses:
            if address not in answered and probe(address, port, shared_secret):
                answered.add(address)
        silent = [address for address in addresses if address not in answered]
        if addresses and not silent:
            log("rotation", step="testSecret", version=token, found=f"all {len(addresses)} healthy proxies answered "
                "a Status-Server signed with the pending secret", did="passed", addresses=addresses)
            return addresses
        if clock() >= deadline:
            found = (f"{len(silent)} of {len(addresses)} healthy proxies did not answer with the pending secret"
                     if addresses else f"no running, healthy proxy to test ({left_out})")
            log("rotation", level="ERROR", step="testSecret", version=token, found=found,
                did="failed the rotation; nothing promoted", silent=silent)
            raise ProxiesDidNotAnswer(f"testSecret: {found} within {deadline_seconds:.0f} s: {silent}")
        log("rotation", step="testSecret", version=token, found=f"{len(addresses) - len(silent)} of {len(addresses)} "
            "healthy proxies answered", did=f"waiting {interval:.0f} s", silent=silent, left_out=left_out)
        sleep(interval)


# --- finishSecret ---------------------------------------------------------------------------------------------

def finish_secret(secretsmanager: Any, secret_id: str, token: str, start_updater: StartUpdater) -> str:
    """Promote the token, start the directory updater, then take AWSPENDING off the token.

    AWSPENDING goes last: while it is still on the (current) token, a retried finishSecret knows the updater may not
    have been started and starts it again (the updater is idempotent). Without it, the next rotation is refused in
    moto, and left half-done on AWS.
    """
    stages = version_stages(secretsmanager, secret_id)
    current = version_with(stages, "AWSCURRENT")
    did: list[str] = []
    if current != token:
        secretsmanager.update_secret_version_stage(SecretId=secret_id, VersionStage="AWSCURRENT",
                                                   MoveToVersionId=token, RemoveFromVersionId=current)
        did.append(f"moved AWSCURRENT from {current}")
    if "AWSPENDING" in stages.get(token, []):
        start_updater(token)
        did.append("started the directory updater")
        secretsmanager.update_secret_version_stage(SecretId=secret_id, VersionStage="AWSPENDING",
                                                   RemoveFromVersionId=token)
        did.append("removed AWSPENDING")
    log("rotation", step="finishSecret", version=token, found=f"AWSCURRENT was {current}",
        did="; ".join(did) or "nothing")
    return "finished" if did else "nothing"


def updater_starter(lambda_client: Any, function_name: str) -> StartUpdater:
    """Start the directory updater asynchronously (it may poll for minutes; finishSecret must not wait for it)."""
    def start(version: str) -> None:
        payload = {"source": "duomfa.rotation", "reason": "finishSecret", "secret_version": version}
        lambda_client.invoke(FunctionName=function_name, InvocationType="Event",
                             Payload=json.dumps(payload).encode("utf-8"))
        log("rotation", step="finishSecret", found=f"secret version {version} promoted",
            did=f"invoked {function_name} asynchronously")
    return start


# --- the step dispatcher and the Lambda handler ---------------------------------------------------------------

def rotate(event: Mapping[str, Any], *, secretsmanager: Any, ecs: Any, ecr: Any, settings: RotationSettings,
           start_updater: StartUpdater, ssm: Any = None, probe: Probe | None = None,
           deadline_seconds: float | None = None, clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> str:
    step, secret_id, token = event["Step"], event["SecretId"], event["ClientRequestToken"]
    if step not in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        raise RotationError(f"unknown rotation step {step!r}")
    if not check_version(secretsmanager, secret_id, token, step):
        return "nothing"
    if step == "createSecret":
        return create_secret(secretsmanager, secret_id, token, ssm=ssm, state_parameter=settings.state_parameter)
    if step == "setSecret":
        return set_secret(ecs, ecr, settings.cluster, settings.service, token)
    if step == "testSecret":
        verify_secret(secretsmanager, ecs, secret_id, token, cluster=settings.cluster, service=settings.service,
                    port=settings.radius_port, probe=probe or probe_status_server, clock=clock, sleep=sleep,
                    deadline_seconds=settings.deadline_seconds if deadline_seconds is None else deadline_seconds)
        return "tested"
    return finish_secret(secretsmanager, secret_id, token, start_updater)


def publish_outcome(settings: RotationSettings, step: str, outcome: str | None) -> None:
    """The rotation's outcome as metrics: succeeded when finishSecret did its work, failed when any step raised
    (`outcome` None); nothing for the steps between, or for a step that found nothing to do."""
    if not settings.metrics_namespace or (outcome is not None and (step != "finishSecret" or outcome == "nothing")):
        return
    failed = outcome is None
    log_metrics("rotation_outcome", settings.metrics_namespace,
                {ROTATION_SUCCEEDED: 0.0 if failed else 1.0, ROTATION_FAILED: 1.0 if failed else 0.0}, step=step)


def handler(event: dict[str, Any], context: Any, client: Any = None) -> None:
    """Secrets Manager → rotation. Env: CLUSTER, SERVICE, RADIUS_PORT, UPDATER_FUNCTION, DEADLINE_SECONDS,
    STATE_PARAMETER and METRICS_NAMESPACE (both optional)."""
    check_crypto(os.environ)
    client = client or boto3.client
    settings = RotationSettings.from_environ(os.environ)
    step = str(event.get("Step"))
    try:
        outcome = rotate(event, secretsmanager=client("secretsmanager"), ecs=client("ecs"), ecr=client("ecr"),
                         ssm=client("ssm"), settings=settings,
                         start_updater=updater_starter(client("lambda"), settings.updater_function),
                         deadline_seconds=seconds_left(settings.deadline_seconds, context))
    except Exception:
        publish_outcome(settings, step, None)
        raise
    publish_outcome(settings, step, outcome)
