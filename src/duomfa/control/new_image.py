"""When the image pipeline succeeds, the proxies move to the new image: exactly one forced deployment of the ECS
service per successful run, skipped when a later deployment already has it or the service does not exist yet.
Inline source: standard library and boto3."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from duomfa.control.inline_support import log


def _when(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def deploy_new_image(ecs: Any, cluster: str, service: str, succeeded_at: datetime) -> str:
    """Force one new deployment unless none is needed; returns what was done, for the log line."""
    answer = ecs.describe_services(cluster=cluster, services=[service])
    found = [s for s in answer.get("services", []) if s.get("status") == "ACTIVE"]
    if not found:
        return "skipped: the service does not exist yet (a new stack creates it with the new image)"
    deployments = found[0].get("deployments", [])
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    if primary is not None and _when(primary["createdAt"]) >= succeeded_at:
        # a deployment that started after the image was pushed already runs it (also: this event's second delivery)
        return f"skipped: deployment {primary.get('id')} started after the image was built"
    deployment = ecs.update_service(cluster=cluster, service=service, forceNewDeployment=True)
    return f"started deployment {deployment['service']['deployments'][0].get('id')}"


def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    import boto3

    detail = event.get("detail", {})
    did = deploy_new_image(boto3.client("ecs"), os.environ["CLUSTER"], os.environ["SERVICE"], _when(event["time"]))
    log("new_image", pipeline=detail.get("pipeline"), execution=detail.get("execution-id"), did=did)
    return {"did": did}
