"""Where the proxies are: the private addresses of the service's running, healthy tasks, and the address tracker
Lambda that writes them to the SSM parameter the directory updater reads — never an empty list, and only when they
change (docs/design.md, "The address tracker")."""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3

from duomfa.control.runtime import env_int, env_text, log, read_json_parameter, version_stages, version_with

TRACKED_EVENTS = (
    ("ECS Service Action", "SERVICE_STEADY_STATE"),
    ("ECS Deployment State Change", "SERVICE_DEPLOYMENT_COMPLETED"),
)
DESCRIBE_TASKS_LIMIT = 100


def service_name(service: str) -> str:
    """"proxy", "arn:…:service/proxy" or "arn:…:service/cluster/proxy" → "proxy"."""
    return service.rsplit("/", 1)[-1]


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
    """The service's tasks that are RUNNING now (list_tasks' default desiredStatus=RUNNING includes pending ones).

    `group` is checked too: ECS sets it to "service:NAME" on a service's tasks, and it keeps a task started by hand
    (or by another service, where list_tasks ignores serviceName, as moto does) out of the list.
    """
    name = service_name(service)
    arns: list[str] = []
    for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster, serviceName=name, desiredStatus="RUNNING"):
        arns.extend(page.get("taskArns") or [])
    tasks: list[dict[str, Any]] = []
    for start in range(0, len(arns), DESCRIBE_TASKS_LIMIT):  # describe_tasks([]) raises: never call it empty
        tasks.extend(ecs.describe_tasks(cluster=cluster, tasks=arns[start:start + DESCRIBE_TASKS_LIMIT])["tasks"])
    return [task for task in tasks if task.get("lastStatus") == "RUNNING" and task.get("group") == f"service:{name}"]


def healthy_addresses(ecs: Any, cluster: str, service: str) -> tuple[list[str], dict[str, int]]:
    """Sorted private IPv4 addresses of the RUNNING and HEALTHY tasks, and counts of what was left out and why."""
    addresses: set[str] = set()
    left_out = {"not_healthy": 0, "no_address": 0}
    for task in running_tasks(ecs, cluster, service):
        if task.get("healthStatus") != "HEALTHY":
            left_out["not_healthy"] += 1
            continue
        address = task_address(task)
        if address is None:
            left_out["no_address"] += 1
            continue
        addresses.add(address)
    return sorted(addresses, key=ipaddress.ip_address), left_out


@dataclass(frozen=True)
class TrackerSettings:
    cluster: str
    service: str
    secret_arn: str
    parameter: str
    port: int

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> TrackerSettings:
        return cls(cluster=env_text(environ, "CLUSTER"), service=env_text(environ, "SERVICE"),
                   secret_arn=env_text(environ, "SECRET_ARN"), parameter=env_text(environ, "ADDRESS_PARAMETER"),
                   port=env_int(environ, "RADIUS_PORT", 1812, 1025, 65535))


def is_tracked(event: Mapping[str, Any], our_service_arn: str) -> bool:
    kind = (event.get("detail-type"), (event.get("detail") or {}).get("eventName"))
    return kind in TRACKED_EVENTS and our_service_arn in (event.get("resources") or [])


def track_addresses(event: Mapping[str, Any], *, ecs: Any, ssm: Any, secretsmanager: Any,
                    settings: TrackerSettings) -> str:
    """Write {"addresses", "port", "secret_version"} to the parameter if it changed; returns what was done."""
    our_arn = service_arn(ecs, settings.cluster, settings.service)
    event_name = (event.get("detail") or {}).get("eventName")
    if not is_tracked(event, our_arn):
        log("address_tracker", found=f"{event.get('detail-type')} {event_name} for {event.get('resources')}",
            did="ignored: not a steady-state or deployment-completed event of our service", service=our_arn)
        return "ignored"
    addresses, left_out = healthy_addresses(ecs, settings.cluster, settings.service)
    if not addresses:
        log("address_tracker", level="WARNING", found=f"no running, healthy task with an address ({left_out})",
            did="kept the parameter: an empty list would point the directory at nothing", trigger=event_name)
        return "empty"
    secret_version = version_with(version_stages(secretsmanager, settings.secret_arn), "AWSCURRENT")
    wanted = {"addresses": addresses, "port": settings.port, "secret_version": secret_version}
    if read_json_parameter(ssm, settings.parameter) == wanted:
        log("address_tracker", found=f"{len(addresses)} healthy task(s), same as the parameter", did="nothing",
            addresses=addresses, left_out=left_out, trigger=event_name)
        return "unchanged"
    ssm.put_parameter(Name=settings.parameter, Value=json.dumps(wanted, separators=(",", ":")), Type="String",
                      Overwrite=True)
    log("address_tracker", found=f"{len(addresses)} healthy task(s), different from the parameter",
        did="wrote the parameter", addresses=addresses, port=settings.port, secret_version=secret_version,
        left_out=left_out, trigger=event_name)
    return "written"


def handler(event: dict[str, Any], context: Any, client: Any = None) -> str:
    """EventBridge → address tracker. Env: CLUSTER, SERVICE, SECRET_ARN, ADDRESS_PARAMETER, RADIUS_PORT."""
    client = client or boto3.client
    settings = TrackerSettings.from_environ(os.environ)
    return track_addresses(event, ecs=client("ecs"), ssm=client("ssm"), secretsmanager=client("secretsmanager"),
                           settings=settings)
