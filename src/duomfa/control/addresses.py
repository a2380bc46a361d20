"""Where the proxies are: the private addresses of the service's running, healthy tasks, and the address tracker
Lambda that writes them to the SSM parameter the directory updater reads — never an empty list, only when they
change, and never a reading older than what ECS says after the write (docs/design.md, "The address tracker";
docs/redeploy.md)."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3

from duomfa.control.runtime import (
    check_crypto,
    env_int,
    env_text,
    log,
    read_json_parameter,
    seconds_left,
    version_stages,
    version_with,
)

TRACKED_EVENTS = (
    ("ECS Service Action", "SERVICE_STEADY_STATE"),
    ("ECS Deployment State Change", "SERVICE_DEPLOYMENT_COMPLETED"),
)
TASK_STATE_CHANGE = "ECS Task State Change"  # any of our service's tasks: the run reads ECS itself
SCHEDULED_EVENT = ("aws.events", "Scheduled Event")  # (source, detail-type) of an EventBridge schedule rule
DESCRIBE_TASKS_LIMIT = 100
HEALTH_POLL_SECONDS = 5.0
HEALTH_WAIT_SECONDS = 120  # a new proxy's container health check passes within start period + interval (30 + 15 s)
MAX_ROUNDS = 64  # writes and re-reads in one run; a run that hits it leaves the rest to the next event or schedule


def service_name(service: str) -> str:
    """"proxy", "arn:…:service/proxy" or "arn:…:service/cluster/proxy" → "proxy"."""
    return service.rsplit("/", 1)[-1]


def cluster_name(cluster: str) -> str:
    """"duomfa" or "arn:…:cluster/duomfa" → "duomfa"."""
    return cluster.rsplit("/", 1)[-1]


def service_arn(ecs: Any, cluster: str, service: str) -> str:
    if service.startswith("arn:"):
        return service
    found = ecs.describe_services(cluster=cluster, services=[service]).get("services") or []
    if not found:
        raise LookupError(f"ECS service {service} was not found in cluster {cluster}")
    return str(found[0]["serviceArn"])


def task_address(task: Mapping[str, Any]) -> str | None:
    """The private IPv4 address of an awsvpc task, from its ENI attachment (containers[].networkInterfaces is empty
    on Fargate in moto and not needed on AWS)."""
    for attachment in task.get("attachments") or []:
        if attachment.get("type") != "ElasticNetworkInterface":
            continue
        for detail in attachment.get("details") or []:
            if detail.get("name") == "privateIPv4Address" and detail.get("value"):
                return str(detail["value"])
    return None


def running_tasks(ecs: Any, cluster: str, service: str) -> list[dict[str, Any]]:
    """The service's tasks that are RUNNING now and that ECS means to keep running.

    lastStatus and desiredStatus are checked on each task, so a stopping task is out whatever list_tasks did;
    `group` ("service:NAME") keeps out a task started by hand or by another service (moto's list_tasks ignores
    serviceName).
    """
    name = service_name(service)
    arns: list[str] = []
    for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster, serviceName=name, desiredStatus="RUNNING"):
        arns.extend(page.get("taskArns") or [])
    tasks: list[dict[str, Any]] = []
    for start in range(0, len(arns), DESCRIBE_TASKS_LIMIT):  # describe_tasks([]) raises: never call it empty
        tasks.extend(ecs.describe_tasks(cluster=cluster, tasks=arns[start:start + DESCRIBE_TASKS_LIMIT])["tasks"])
    return [task for task in tasks if task.get("lastStatus") == "RUNNING"
            and task.get("desiredStatus", "RUNNING") == "RUNNING" and task.get("group") == f"service:{name}"]


@dataclass(frozen=True)
class Sighting:
    """What one reading of ECS found: the healthy tasks' sorted addresses, what was left out and why, and how many
    RUNNING tasks have no health verdict yet (their container health check has not passed or failed)."""

    addresses: tuple[str, ...]
    left_out: dict[str, int] = field(default_factory=dict)
    health_pending: int = 0


def sight(ecs: Any, cluster: str, service: str) -> Sighting:
    addresses: set[str] = set()
    left_out = {"not_healthy": 0, "no_address": 0}
    pending = 0
    for task in running_tasks(ecs, cluster, service):
        health = task.get("healthStatus")
        if health != "HEALTHY":
            left_out["not_healthy"] += 1
            pending += health in (None, "UNKNOWN")
            continue
        address = task_address(task)
        if address is None:
            left_out["no_address"] += 1
            continue
        addresses.add(address)
    return Sighting(tuple(sorted(addresses, key=ipaddress.ip_address)), left_out, pending)


def healthy_addresses(ecs: Any, cluster: str, service: str) -> tuple[list[str], dict[str, int]]:
    """Sorted private IPv4 addresses of the RUNNING and HEALTHY tasks, and counts of what was left out and why."""
    found = sight(ecs, cluster, service)
    return list(found.addresses), found.left_out


@dataclass(frozen=True)
class TrackerSettings:
    cluster: str
    service: str
    secret_arn: str
    parameter: str
    port: int
    health_wait_seconds: float = HEALTH_WAIT_SECONDS
    health_poll_seconds: float = HEALTH_POLL_SECONDS

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> TrackerSettings:
        return cls(cluster=env_text(environ, "CLUSTER"), service=env_text(environ, "SERVICE"),
                   secret_arn=env_text(environ, "SECRET_ARN"), parameter=env_text(environ, "ADDRESS_PARAMETER"),
                   port=env_int(environ, "RADIUS_PORT", 1812, 1025, 65535),
                   health_wait_seconds=env_int(environ, "HEALTH_WAIT_SECONDS", HEALTH_WAIT_SECONDS, 0, 840))


def trigger_of(event: Mapping[str, Any], our_service_arn: str, settings: TrackerSettings) -> str | None:
    """What the event says happened, when it concerns our service (else None). Only a hint: the run reads ECS."""
    detail_type, detail = event.get("detail-type"), event.get("detail") or {}
    if detail_type is None and event.get("source") is None:
        return "invoked by hand"
    if (event.get("source"), detail_type) == SCHEDULED_EVENT:
        return "schedule"
    if detail_type == TASK_STATE_CHANGE:
        ours = (detail.get("group") == f"service:{service_name(settings.service)}"
                and cluster_name(str(detail.get("clusterArn") or "")) == cluster_name(settings.cluster))
        task = str(detail.get("taskArn") or "?").rsplit("/", 1)[-1]
        return f"task {task} {detail.get('lastStatus')}, desired {detail.get('desiredStatus')}" if ours else None
    if (detail_type, detail.get("eventName")) in TRACKED_EVENTS and our_service_arn in (event.get("resources") or []):
        return str(detail["eventName"])
    return None


def wanted_value(ecs: Any, secretsmanager: Any, settings: TrackerSettings) -> tuple[Sighting, dict[str, Any]]:
    """A fresh reading of ECS and the parameter's value it calls for: {"addresses", "port", "secret_version"}."""
    found = sight(ecs, settings.cluster, settings.service)
    secret_version = version_with(version_stages(secretsmanager, settings.secret_arn), "AWSCURRENT")
    return found, {"addresses": list(found.addresses), "port": settings.port, "secret_version": secret_version}


def track_addresses(event: Mapping[str, Any], *, ecs: Any, ssm: Any, secretsmanager: Any,
                    settings: TrackerSettings, clock: Callable[[], float] = time.monotonic,
                    sleep: Callable[[float], None] = time.sleep) -> str:
    """Bring the parameter to what ECS says now; returns "written", "unchanged", "empty", "ignored" or "unsettled".

    Safe when runs overlap: each run reads ECS itself, never the event, and ends on a write only once a later
    reading of ECS agrees (docs/redeploy.md). A RUNNING task not yet healthy is waited for, up to
    `health_wait_seconds` (ECS sends no event when its health changes).
    """
    our_arn = service_arn(ecs, settings.cluster, settings.service)
    trigger = trigger_of(event, our_arn, settings)
    if trigger is None:
        what = " ".join(str(x) for x in (event.get("detail-type"), (event.get("detail") or {}).get("eventName")) if x)
        log("address_tracker", found=f"{what} for {event.get('resources')}",
            did="ignored: not an event of our service, nor the schedule", service=our_arn)
        return "ignored"
    deadline = clock() + settings.health_wait_seconds
    outcome = "unchanged"
    found, wanted = wanted_value(ecs, secretsmanager, settings)
    for _ in range(MAX_ROUNDS):
        done = _write_if_changed(ssm, settings.parameter, found, wanted, trigger)
        outcome = "written" if "written" in (outcome, done) else done
        found_after, wanted_after = wanted_value(ecs, secretsmanager, settings)
        if wanted_after != wanted:  # ECS moved on while this run was reading or writing: follow it
            log("address_tracker", found=f"ECS now says {wanted_after['addresses']}, not {wanted['addresses']}",
                did="reading again before ending", trigger=trigger)
        elif found_after.health_pending and clock() + settings.health_poll_seconds <= deadline:
            sleep(settings.health_poll_seconds)  # no event comes when a task turns HEALTHY: look again
            found_after, wanted_after = wanted_value(ecs, secretsmanager, settings)
        else:
            return outcome
        found, wanted = found_after, wanted_after
    log("address_tracker", level="WARNING", found=f"ECS still changing after {MAX_ROUNDS} readings",
        did="stopped: the next event or the schedule carries on", trigger=trigger)
    return "unsettled"


def _write_if_changed(ssm: Any, parameter: str, found: Sighting, wanted: dict[str, Any], trigger: str) -> str:
    addresses = wanted["addresses"]
    if not addresses:
        log("address_tracker", level="WARNING", found=f"no running, healthy task with an address ({found.left_out})",
            did="kept the parameter: an empty list would point the directory at nothing", trigger=trigger)
        return "empty"
    if read_json_parameter(ssm, parameter) == wanted:
        log("address_tracker", found=f"{len(addresses)} healthy task(s), same as the parameter", did="nothing",
            addresses=addresses, left_out=found.left_out, trigger=trigger)
        return "unchanged"
    ssm.put_parameter(Name=parameter, Value=json.dumps(wanted, separators=(",", ":")), Type="String", Overwrite=True)
    log("address_tracker", found=f"{len(addresses)} healthy task(s), different from the parameter",
        did="wrote the parameter", addresses=addresses, port=wanted["port"], secret_version=wanted["secret_version"],
        left_out=found.left_out, trigger=trigger)
    return "written"


def handler(event: dict[str, Any], context: Any, client: Any = None) -> str:
    """EventBridge (ECS events of our service, a schedule) or a direct invoke → address tracker.
    Env: CLUSTER, SERVICE, SECRET_ARN, ADDRESS_PARAMETER, RADIUS_PORT, HEALTH_WAIT_SECONDS."""
    check_crypto(os.environ)
    client = client or boto3.client
    settings = TrackerSettings.from_environ(os.environ)
    settings = dataclasses.replace(settings, health_wait_seconds=min(
        settings.health_wait_seconds, seconds_left(settings.health_wait_seconds, context)))
    return track_addresses(event, ecs=client("ecs"), ssm=client("ssm"), secretsmanager=client("secretsmanager"),
                           settings=settings)
