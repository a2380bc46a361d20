"""CloudFormation waits for the first proxy image: a Provider's on-event handler starts (or joins) a pipeline run on
Create, and on an Update that turns FipsImage to Yes (the FIPS image must exist before the proxies require it); its
is-complete handler reports done when that run succeeded, or fails the stack with the stage, action and reason
(docs/design.md, "The first image"). Inline source: standard library and boto3."""

from __future__ import annotations

from typing import Any

from duomfa.control.inline_support import log

RUNNING = ("InProgress", "Stopping")
FAILED = ("Failed", "Stopped", "Cancelled")
# what to check first when a stage fails, in the words of the deployment guide (docs/deploy.md)
HINTS = {
    "Source": "check that the CodeConnections connection is AVAILABLE (finish its handshake in the console) and "
              "that the repository and branch exist, or that the CodeCommit repository has the branch",
    "Build": "the build log says why; a refused image means the scan found CRITICAL or HIGH findings",
}
REASON_LIMIT = 900  # CloudFormation shows the reason in its events; the framework appends the log group


class FirstImageFailed(Exception):
    """The pipeline run that was to produce the first image ended without one; the message says where and why."""


def start_or_join(codepipeline: Any, pipeline: str, request_id: str) -> tuple[str, str]:
    """The run to wait for: one already in progress (a new pipeline starts one by itself), else a new one.

    The CloudFormation request ID is the client token, so a repeated Create request starts no second run."""
    summaries = codepipeline.list_pipeline_executions(pipelineName=pipeline, maxResults=5)
    for summary in summaries.get("pipelineExecutionSummaries", []):
        if summary.get("status") == "InProgress":
            return summary["pipelineExecutionId"], "joined the run in progress"
    started = codepipeline.start_pipeline_execution(name=pipeline, clientRequestToken=request_id)
    return started["pipelineExecutionId"], "started a run"


def failure_reason(codepipeline: Any, pipeline: str, execution_id: str, status: str,
                   request_type: str = "Create") -> str:
    """Which action failed and what it said, for the stack event."""
    details = codepipeline.list_action_executions(
        pipelineName=pipeline, filter={"pipelineExecutionId": execution_id}).get("actionExecutionDetails", [])
    failed = [d for d in details if d.get("status") == "Failed"]
    reason = f"image pipeline {pipeline} run {execution_id} ended {status}"
    if failed:
        action = failed[0]
        result = action.get("output", {}).get("executionResult", {})
        said = (result.get("errorDetails", {}).get("message") or result.get("externalExecutionSummary")
                or "no message")
        stage = action.get("stageName", "?")
        reason += f" in stage {stage}, action {action.get('actionName', '?')}: {said}"
        if result.get("externalExecutionUrl"):
            reason += f" (details: {result['externalExecutionUrl']})"
        if stage in HINTS:
            reason += f"; {HINTS[stage]}"
    reason += (". No proxy image exists yet, so the proxies were not created." if request_type == "Create" else
               ". The FIPS image was not built, so the proxies keep their image and settings (the update rolls "
               "back).")
    return reason[:REASON_LIMIT]


def run_status(codepipeline: Any, pipeline: str, execution_id: str) -> tuple[str, str]:
    """(status, execution id) of the run, following a newer run that superseded it."""
    execution = codepipeline.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution_id)
    status = execution["pipelineExecution"]["status"]
    if status != "Superseded":
        return status, execution_id
    # a newer run (e.g. the schedule, or a second start) overtook ours: its image is the one that counts
    newest = codepipeline.list_pipeline_executions(pipelineName=pipeline, maxResults=1)["pipelineExecutionSummaries"]
    if not newest or newest[0]["pipelineExecutionId"] == execution_id:
        return status, execution_id
    return newest[0]["status"], newest[0]["pipelineExecutionId"]


def waits_for_a_run(event: dict[str, Any]) -> bool:
    """Create; or an Update that turns FipsImage to Yes: the image the proxies run must then be rebuilt as the FIPS
    image before they start with fips_mode = true. Turning it off needs no run: the FIPS image also runs without
    fips_mode, and the next scheduled build is a standard one. Delete: nothing."""
    if event["RequestType"] == "Create":
        return True
    if event["RequestType"] != "Update":
        return False
    new = str(event["ResourceProperties"].get("FipsImage", "No"))
    old = str((event.get("OldResourceProperties") or {}).get("FipsImage", "No"))
    return new == "Yes" and old != "Yes"


def on_event(event: dict[str, Any], codepipeline: Any) -> dict[str, Any]:
    """Start or join a run when one is needed (waits_for_a_run); otherwise nothing (later images come from the
    schedule)."""
    pipeline = str(event["ResourceProperties"]["PipelineName"])
    if not waits_for_a_run(event):
        return {"PhysicalResourceId": event["PhysicalResourceId"]}
    execution_id, did = start_or_join(codepipeline, pipeline, event["RequestId"])
    _log(event, did=did, pipeline=pipeline, execution=execution_id)
    # an Update keeps its physical ID: a new one would make CloudFormation delete the old resource
    physical_id = f"first-image-{execution_id}" if event["RequestType"] == "Create" else event["PhysicalResourceId"]
    return {"PhysicalResourceId": physical_id, "Data": {"PipelineExecutionId": execution_id}}


def is_complete(event: dict[str, Any], codepipeline: Any) -> dict[str, Any]:
    """Done when the run succeeded; not yet while it runs; raises FirstImageFailed when it ended otherwise."""
    if not waits_for_a_run(event):
        return {"IsComplete": True}
    pipeline = str(event["ResourceProperties"]["PipelineName"])
    execution_id = (event.get("Data") or {}).get("PipelineExecutionId") or event["PhysicalResourceId"].removeprefix(
        "first-image-")
    status, followed = run_status(codepipeline, pipeline, execution_id)
    _log(event, pipeline=pipeline, execution=followed, status=status)
    if status == "Succeeded":
        return {"IsComplete": True, "Data": {"PipelineExecutionId": followed}}
    if status in RUNNING:
        return {"IsComplete": False}
    raise FirstImageFailed(failure_reason(codepipeline, pipeline, followed, status, event["RequestType"]))


def _log(event: dict[str, Any], **fields: Any) -> None:
    # the request type and what was found; never the request's properties or its response URL
    log("first_image", request=event.get("RequestType"), **fields)


def _client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("codepipeline", config=Config(connect_timeout=5, read_timeout=20,
                                                      retries={"max_attempts": 5, "mode": "standard"}))


def on_event_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return on_event(event, _client())


def is_complete_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return is_complete(event, _client())
