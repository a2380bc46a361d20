"""The first-image wait: which pipeline run it waits for, when it reports done, and that a failed run fails the stack
with the stage, the action and what went wrong. moto has no CodePipeline execution APIs, so the calls
are checked with botocore's Stubber against the real service model."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from duomfa.control import first_image
from duomfa.control.first_image import FirstImageFailed, is_complete, on_event

PIPELINE = "DuoMfa-ImagePipeline-ABC123"
RUN = "11111111-2222-3333-4444-555555555555"
OTHER_RUN = "99999999-2222-3333-4444-555555555555"
CREATE = {"RequestType": "Create", "RequestId": "7c1c9a3e-1b1a-4a43-9a40-3e3c0b5b0b7e",
          "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x",
          "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/DuoMfa/guid",
          "LogicalResourceId": "FirstImage", "ResourceType": "Custom::FirstImage",
          "ResourceProperties": {"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:f",
                                 "PipelineName": PIPELINE}}
STARTED = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)


@pytest.fixture
def codepipeline():
    client = boto3.client("codepipeline", region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        client.stubber = stubber
        yield client
        stubber.assert_no_pending_responses()


def summary(execution_id: str, status: str) -> dict:
    return {"pipelineExecutionId": execution_id, "status": status, "startTime": STARTED, "lastUpdateTime": STARTED}


def executions(codepipeline, *summaries: dict, max_results: int = 5) -> None:
    codepipeline.stubber.add_response("list_pipeline_executions",
                                      {"pipelineExecutionSummaries": list(summaries)},
                                      {"pipelineName": PIPELINE, "maxResults": max_results})


def execution(codepipeline, execution_id: str, status: str) -> None:
    codepipeline.stubber.add_response(
        "get_pipeline_execution",
        {"pipelineExecution": {"pipelineName": PIPELINE, "pipelineVersion": 1, "pipelineExecutionId": execution_id,
                               "status": status}},
        {"pipelineName": PIPELINE, "pipelineExecutionId": execution_id})


def waiting(**changes) -> dict:
    """The event the provider framework hands the is-complete handler: the request plus on_event's answer."""
    return {**CREATE, "PhysicalResourceId": f"first-image-{RUN}", "Data": {"PipelineExecutionId": RUN}, **changes}


# --- on_event -----------------------------------------------------------------------------------------------------

def test_create_joins_the_run_a_new_pipeline_starts_by_itself(codepipeline):
    executions(codepipeline, summary(RUN, "InProgress"))
    answer = on_event(CREATE, codepipeline)
    assert answer == {"PhysicalResourceId": f"first-image-{RUN}", "Data": {"PipelineExecutionId": RUN}}


def test_create_starts_a_run_with_the_request_id_as_client_token(codepipeline):
    executions(codepipeline, summary(OTHER_RUN, "Failed"))  # e.g. the connection was not yet available
    codepipeline.stubber.add_response("start_pipeline_execution", {"pipelineExecutionId": RUN},
                                      {"name": PIPELINE, "clientRequestToken": CREATE["RequestId"]})
    assert on_event(CREATE, codepipeline)["Data"] == {"PipelineExecutionId": RUN}


@pytest.mark.parametrize("request_type", ["Update", "Delete"])
def test_update_and_delete_start_nothing(codepipeline, request_type):
    event = {**CREATE, "RequestType": request_type, "PhysicalResourceId": f"first-image-{RUN}"}
    assert on_event(event, codepipeline) == {"PhysicalResourceId": f"first-image-{RUN}"}
    assert is_complete(event, codepipeline) == {"IsComplete": True}


def fips_update(old: str | None, new: str | None, **changes) -> dict:
    """An Update whose FipsImage goes from `old` to `new` (None: the property is absent, as in older templates)."""
    def properties(value: str | None) -> dict:
        extra = {} if value is None else {"FipsImage": value}
        return {**CREATE["ResourceProperties"], **extra}
    return {**CREATE, "RequestType": "Update", "PhysicalResourceId": f"first-image-{OTHER_RUN}",
            "ResourceProperties": properties(new), "OldResourceProperties": properties(old), **changes}


@pytest.mark.parametrize("old", ["No", None])
def test_turning_fips_on_builds_the_fips_image_before_the_proxies_require_it(codepipeline, old):
    executions(codepipeline, summary(OTHER_RUN, "Succeeded"))
    codepipeline.stubber.add_response("start_pipeline_execution", {"pipelineExecutionId": RUN},
                                      {"name": PIPELINE, "clientRequestToken": CREATE["RequestId"]})
    answer = on_event(fips_update(old, "Yes"), codepipeline)
    # the physical ID stays: a new one would make CloudFormation delete the resource it replaces
    assert answer == {"PhysicalResourceId": f"first-image-{OTHER_RUN}", "Data": {"PipelineExecutionId": RUN}}
    execution(codepipeline, RUN, "InProgress")
    assert is_complete(fips_update(old, "Yes", Data={"PipelineExecutionId": RUN}), codepipeline) == {
        "IsComplete": False}
    execution(codepipeline, RUN, "Succeeded")
    assert is_complete(fips_update(old, "Yes", Data={"PipelineExecutionId": RUN}), codepipeline)["IsComplete"]


@pytest.mark.parametrize("old, new", [("Yes", "No"), ("Yes", "Yes"), ("No", "No"), (None, "No"), (None, None)])
def test_other_updates_start_nothing(codepipeline, old, new):
    event = fips_update(old, new)
    assert on_event(event, codepipeline) == {"PhysicalResourceId": f"first-image-{OTHER_RUN}"}
    assert is_complete(event, codepipeline) == {"IsComplete": True}


def test_a_failed_fips_build_says_the_proxies_keep_what_they_run(codepipeline):
    execution(codepipeline, RUN, "Failed")
    codepipeline.stubber.add_response(
        "list_action_executions",
        {"actionExecutionDetails": [failed_action("Build", "Image", {
            "externalExecutionSummary": "Build terminated with state: FAILED"})]},
        {"pipelineName": PIPELINE, "filter": {"pipelineExecutionId": RUN}})
    with pytest.raises(FirstImageFailed) as failure:
        is_complete(fips_update("No", "Yes", Data={"PipelineExecutionId": RUN}), codepipeline)
    assert "FIPS image was not built" in str(failure.value) and "were not created" not in str(failure.value)


# --- is_complete --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", ["InProgress", "Stopping"])
def test_not_complete_while_the_run_runs(codepipeline, status):
    execution(codepipeline, RUN, status)
    # no Data while not complete: the framework refuses it
    assert is_complete(waiting(), codepipeline) == {"IsComplete": False}


def test_complete_when_the_run_succeeded(codepipeline):
    execution(codepipeline, RUN, "Succeeded")
    assert is_complete(waiting(), codepipeline) == {"IsComplete": True, "Data": {"PipelineExecutionId": RUN}}


def test_execution_id_is_read_from_the_physical_id_when_data_is_missing(codepipeline):
    execution(codepipeline, RUN, "Succeeded")
    event = waiting()
    del event["Data"]
    assert is_complete(event, codepipeline)["IsComplete"] is True


def test_a_superseded_run_hands_over_to_the_newer_one(codepipeline):
    execution(codepipeline, RUN, "Superseded")
    executions(codepipeline, summary(OTHER_RUN, "InProgress"), max_results=1)
    assert is_complete(waiting(), codepipeline) == {"IsComplete": False}
    execution(codepipeline, RUN, "Superseded")
    executions(codepipeline, summary(OTHER_RUN, "Succeeded"), max_results=1)
    assert is_complete(waiting(), codepipeline) == {"IsComplete": True, "Data": {"PipelineExecutionId": OTHER_RUN}}


def failed_action(stage: str, action: str, result: dict) -> dict:
    return {"pipelineExecutionId": RUN, "actionExecutionId": "a-1", "stageName": stage, "actionName": action,
            "status": "Failed", "output": {"executionResult": result}}


def test_a_failed_build_fails_the_stack_naming_stage_action_and_reason(codepipeline):
    execution(codepipeline, RUN, "Failed")
    codepipeline.stubber.add_response(
        "list_action_executions",
        {"actionExecutionDetails": [
            {"pipelineExecutionId": RUN, "actionExecutionId": "a-0", "stageName": "Source", "actionName": "GitHub",
             "status": "Succeeded"},
            failed_action("Build", "Image", {"externalExecutionId": "build:1",
                                             "externalExecutionSummary": "Build terminated with state: FAILED",
                                             "externalExecutionUrl": "https://console.aws.amazon.com/codesuite/x"})]},
        {"pipelineName": PIPELINE, "filter": {"pipelineExecutionId": RUN}})
    with pytest.raises(FirstImageFailed) as failure:
        is_complete(waiting(), codepipeline)
    message = str(failure.value)
    assert f"run {RUN} ended Failed in stage Build, action Image: Build terminated with state: FAILED" in message
    assert "https://console.aws.amazon.com/codesuite/x" in message
    assert "CRITICAL or HIGH" in message and "proxies were not created" in message
    assert len(message) <= first_image.REASON_LIMIT


def test_a_failed_source_points_at_the_connection(codepipeline):
    execution(codepipeline, RUN, "Failed")
    codepipeline.stubber.add_response(
        "list_action_executions",
        {"actionExecutionDetails": [failed_action("Source", "GitHub", {
            "errorDetails": {"code": "PermissionError", "message": "Connection is not available"}})]},
        {"pipelineName": PIPELINE, "filter": {"pipelineExecutionId": RUN}})
    with pytest.raises(FirstImageFailed, match="Connection is not available; check that the CodeConnections "
                                               "connection is AVAILABLE"):
        is_complete(waiting(), codepipeline)


@pytest.mark.parametrize("status", ["Stopped", "Cancelled"])
def test_a_stopped_run_fails_the_stack_too(codepipeline, status):
    execution(codepipeline, RUN, status)
    codepipeline.stubber.add_response("list_action_executions", {"actionExecutionDetails": []},
                                      {"pipelineName": PIPELINE, "filter": {"pipelineExecutionId": RUN}})
    with pytest.raises(FirstImageFailed, match=f"ended {status}"):
        is_complete(waiting(), codepipeline)


def test_nothing_is_logged_but_the_request_type_and_the_run(codepipeline, capsys):
    executions(codepipeline, summary(RUN, "InProgress"))
    on_event({**CREATE, "ResourceProperties": {**CREATE["ResourceProperties"], "Marker": "do-not-log"}}, codepipeline)
    out = capsys.readouterr().out
    assert "do-not-log" not in out and CREATE["ResponseURL"] not in out and RUN in out
