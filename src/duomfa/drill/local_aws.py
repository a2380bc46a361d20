"""The AWS side of the drill, on this machine: Secrets Manager, SSM and SNS from moto's server (the real APIs,
over HTTP, so the proxies read secrets with the code they run on AWS); and two stand-ins for what moto cannot
run — the ECS service (local proxy processes) and the directory's RADIUS settings (DS is not in moto). The
stand-ins answer the same calls the control plane makes, with the same shapes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass
class LocalTask:
    """One task of the stand-in service, in the states a Fargate task goes through (lastStatus, desiredStatus,
    healthStatus)."""

    arn: str
    address: str
    last_status: str = "RUNNING"
    desired_status: str = "RUNNING"
    health_status: str = "HEALTHY"


class LocalService:
    """An ECS service whose tasks are local proxy processes: what list_tasks / describe_tasks / describe_services
    and describe_task_definition answer for its Fargate tasks. It starts with running, healthy tasks at
    `addresses`; a drill that replaces them (`start_task`, `update`) gets an "ECS Task State Change" event through
    `on_event` whenever a task's lastStatus or desiredStatus changes — not when only its health does, as ECS
    documents no event for that."""

    def __init__(self, cluster: str, name: str, addresses: list[str],
                 on_event: Callable[[dict[str, Any]], None] | None = None):
        self.cluster, self.name = cluster, name
        self.arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{cluster}/{name}"
        self.cluster_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}"
        self.on_event = on_event
        self._lock = threading.Lock()
        self._started = 0
        self.tasks: list[LocalTask] = [LocalTask(self._next_arn(), address) for address in addresses]

    @property
    def addresses(self) -> list[str]:
        with self._lock:
            return [task.address for task in self.tasks if task.last_status != "STOPPED"]

    def _next_arn(self) -> str:
        arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{self.cluster}/drill{self._started}"
        self._started += 1
        return arn

    def start_task(self, address: str) -> LocalTask:
        """What the service scheduler does first for a new task: PENDING, no health verdict yet."""
        with self._lock:
            task = LocalTask(self._next_arn(), address, last_status="PENDING", health_status="UNKNOWN")
            self.tasks.append(task)
        self._emit(task)
        return task

    def update(self, task: LocalTask, *, last_status: str | None = None, desired_status: str | None = None,
               health_status: str | None = None) -> None:
        with self._lock:
            before = (task.last_status, task.desired_status)
            task.last_status = last_status or task.last_status
            task.desired_status = desired_status or task.desired_status
            task.health_status = health_status or task.health_status
            changed = (task.last_status, task.desired_status) != before
        if changed:
            self._emit(task)

    def _emit(self, task: LocalTask) -> None:
        if self.on_event is not None:
            self.on_event(self.task_event(task))

    def task_event(self, task: LocalTask) -> dict[str, Any]:
        """An "ECS Task State Change" event as EventBridge delivers it (its detail is the task as DescribeTasks
        shows it, without the health status)."""
        detail = {key: value for key, value in self._describe(task).items() if key != "healthStatus"}
        return {"version": "0", "source": "aws.ecs", "detail-type": "ECS Task State Change", "account": ACCOUNT,
                "region": REGION, "resources": [task.arn], "detail": {**detail, "clusterArn": self.cluster_arn}}

    def service_event(self, detail_type: str, event_name: str) -> dict[str, Any]:
        """An "ECS Service Action" or "ECS Deployment State Change" event for this service."""
        return {"version": "0", "source": "aws.ecs", "detail-type": detail_type, "account": ACCOUNT,
                "region": REGION, "resources": [self.arn],
                "detail": {"eventType": "INFO", "eventName": event_name, "clusterArn": self.cluster_arn}}

    def _describe(self, task: LocalTask) -> dict[str, Any]:
        return {
            "taskArn": task.arn, "lastStatus": task.last_status, "desiredStatus": task.desired_status,
            "healthStatus": task.health_status, "group": f"service:{self.name}",
            "containers": [{"name": "proxy", "imageDigest": "sha256:local"}],
            "attachments": [{"type": "ElasticNetworkInterface",
                             "details": [{"name": "privateIPv4Address", "value": task.address}]}],
        }

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_tasks"
        service = self

        class Pages:
            def paginate(self, desiredStatus: str = "RUNNING", **kwargs: Any) -> list[dict[str, Any]]:
                with service._lock:  # like ECS: STOPPED tasks are listed only when asked for
                    arns = [task.arn for task in service.tasks if task.desired_status == desiredStatus]
                return [{"taskArns": arns}]

        return Pages()

    def describe_tasks(self, cluster: str, tasks: list[str]) -> dict[str, Any]:
        with self._lock:
            return {"tasks": [self._describe(task) for task in self.tasks if task.arn in tasks]}

    def describe_services(self, cluster: str, services: list[str]) -> dict[str, Any]:
        return {"services": [{"serviceArn": self.arn, "taskDefinition": "duomfa-drill:1",
                              "deployments": [{"status": "PRIMARY", "rolloutState": "COMPLETED"}]}]}

    def describe_task_definition(self, taskDefinition: str) -> dict[str, Any]:
        # a local image, not an ECR tag: no newer image can be waiting, so setSecret never deploys
        return {"taskDefinition": {"containerDefinitions": [{"name": "proxy", "image": "duomfa:local"}]}}


class _NoErrors:
    class EntityAlreadyExistsException(Exception):
        pass


class LocalDirectory:
    """A directory's RADIUS settings: Enable/UpdateRadius take `apply_seconds` in `Creating`, then the directory
    starts using the new settings — `on_applied(settings)` is where the drill's RADIUS client takes the new secret —
    and reports `Completed`. DescribeDirectories never returns the secret, like the real one. With
    `shows_secret_updates=False` an update of the secret alone leaves the old `Completed` on show while it applies."""

    exceptions = _NoErrors

    def __init__(self, directory_id: str, apply_seconds: float, on_applied: Callable[[dict[str, Any]], None], *,
                 shows_secret_updates: bool = True):
        self.directory_id = directory_id
        self.apply_seconds = apply_seconds
        self.on_applied = on_applied
        self.shows_secret_updates = shows_secret_updates
        self.status: str | None = None
        self.settings: dict[str, Any] = {}
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def describe_directories(self, DirectoryIds: list[str]) -> dict[str, Any]:
        description: dict[str, Any] = {"DirectoryId": self.directory_id, "Type": "MicrosoftAD"}
        with self._lock:
            if self.status is not None:
                description["RadiusStatus"] = self.status
                description["RadiusSettings"] = {k: v for k, v in self.settings.items() if k != "SharedSecret"}
        return {"DirectoryDescriptions": [description]}

    def _apply(self, call: str, settings: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls.append(call)
            secret_only = self.status == "Completed" and all(
                self.settings.get(k) == v for k, v in settings.items() if k != "SharedSecret")
            if self.shows_secret_updates or not secret_only:
                self.status = "Creating"

        def finish() -> None:
            time.sleep(self.apply_seconds)
            self.on_applied(settings)
            with self._lock:
                self.settings, self.status = settings, "Completed"

        threading.Thread(target=finish, daemon=True).start()
        return {}

    def enable_radius(self, DirectoryId: str, RadiusSettings: dict[str, Any]) -> dict[str, Any]:
        return self._apply("EnableRadius", RadiusSettings)

    def update_radius(self, DirectoryId: str, RadiusSettings: dict[str, Any]) -> dict[str, Any]:
        return self._apply("UpdateRadius", RadiusSettings)


def enable_rotation(secret_arn: str) -> None:
    """What RotateSecret leaves on a secret: rotation on, a schedule and a function. (moto's RotateSecret would also
    look the function up and invoke it; the drill runs the rotation steps itself.)"""
    secret = _moto_secret(secret_arn)
    secret.rotation_requested = secret.rotation_enabled = True
    secret.auto_rotate_after_days = 7
    secret.rotation_lambda_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:duomfa-rotation"


def begin_rotation(secret_arn: str, token: str) -> None:
    """What Secrets Manager does before it calls createSecret: a new version ID staged AWSPENDING, without a value."""
    secret = _moto_secret(secret_arn)
    secret.remove_version_stages_from_old_versions(["AWSPENDING"])
    secret.versions[token] = {"createdate": int(time.time()), "version_id": token, "version_stages": ["AWSPENDING"]}


def _moto_secret(secret_arn: str) -> Any:
    from moto.secretsmanager.models import secretsmanager_backends

    backend = secretsmanager_backends[ACCOUNT][REGION]
    return backend.secrets[secret_arn]
