"""The AWS side of the drill, on this machine: Secrets Manager, SSM and SNS from moto's server (the real APIs,
over HTTP, so the proxies read secrets with the code they run on AWS); and two stand-ins for what moto cannot
run — the ECS service (two local proxy processes) and the directory's RADIUS settings (DS is not in moto). The
stand-ins answer the same calls the control plane makes, with the same shapes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"


class LocalService:
    """An ECS service whose tasks are local proxy processes: what list_tasks / describe_tasks / describe_services
    and describe_task_definition answer for running, healthy Fargate tasks at `addresses`."""

    def __init__(self, cluster: str, name: str, addresses: list[str]):
        self.cluster, self.name, self.addresses = cluster, name, addresses
        self.arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{cluster}/{name}"

    def _task_arn(self, index: int) -> str:
        return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{self.cluster}/drill{index}"

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_tasks"
        service = self

        class Pages:
            def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
                return [{"taskArns": [service._task_arn(i) for i in range(len(service.addresses))]}]

        return Pages()

    def describe_tasks(self, cluster: str, tasks: list[str]) -> dict[str, Any]:
        found = []
        for index, address in enumerate(self.addresses):
            if self._task_arn(index) in tasks:
                found.append({
                    "taskArn": self._task_arn(index), "lastStatus": "RUNNING", "healthStatus": "HEALTHY",
                    "group": f"service:{self.name}",
                    "containers": [{"name": "proxy", "imageDigest": "sha256:local"}],
                    "attachments": [{"type": "ElasticNetworkInterface",
                                     "details": [{"name": "privateIPv4Address", "value": address}]}],
                })
        return {"tasks": found}

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
    and reports `Completed`. DescribeDirectories never returns the secret, like the real one."""

    exceptions = _NoErrors

    def __init__(self, directory_id: str, apply_seconds: float, on_applied: Callable[[dict[str, Any]], None]):
        self.directory_id = directory_id
        self.apply_seconds = apply_seconds
        self.on_applied = on_applied
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
