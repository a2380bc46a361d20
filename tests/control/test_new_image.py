"""One deployment per successful image build: forced when the service exists and runs an older deployment, skipped
when the service is not there yet (a new stack's first build) or a later deployment already has the image (also a
second delivery of the same event). ECS calls are checked with botocore's Stubber against the real service model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from duomfa.control import new_image
from duomfa.control.new_image import deploy_new_image

CLUSTER, SERVICE = "duomfa-cluster", "duomfa-proxies"
SUCCEEDED_AT = datetime(2026, 11, 28, 0, 14, 3, tzinfo=UTC)


@pytest.fixture
def ecs():
    client = boto3.client("ecs", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        client.stubber = stubber
        yield client
        stubber.assert_no_pending_responses()


def service_with_deployment(ecs, created_at: datetime, status: str = "ACTIVE") -> None:
    ecs.stubber.add_response("describe_services", {"services": [{
        "serviceName": SERVICE, "status": status,
        "deployments": [{"id": "ecs-svc/1111", "status": "PRIMARY", "createdAt": created_at}]}], "failures": []},
        {"cluster": CLUSTER, "services": [SERVICE]})


def test_an_older_deployment_gets_exactly_one_forced_deployment(ecs):
    service_with_deployment(ecs, SUCCEEDED_AT - timedelta(days=7))
    ecs.stubber.add_response("update_service", {"service": {"deployments": [{"id": "ecs-svc/2222"}]}},
                             {"cluster": CLUSTER, "service": SERVICE, "forceNewDeployment": True})
    assert deploy_new_image(ecs, CLUSTER, SERVICE, SUCCEEDED_AT) == "started deployment ecs-svc/2222"


def test_a_deployment_started_after_the_build_is_left_alone(ecs):
    service_with_deployment(ecs, SUCCEEDED_AT + timedelta(seconds=20))
    assert deploy_new_image(ecs, CLUSTER, SERVICE, SUCCEEDED_AT).startswith("skipped: deployment ecs-svc/1111")


def test_no_service_yet_is_skipped(ecs):
    ecs.stubber.add_response("describe_services", {"services": [], "failures": [
        {"arn": f"arn:aws:ecs:us-east-1:123456789012:service/{CLUSTER}/{SERVICE}", "reason": "MISSING"}]},
        {"cluster": CLUSTER, "services": [SERVICE]})
    assert deploy_new_image(ecs, CLUSTER, SERVICE, SUCCEEDED_AT).startswith("skipped: the service does not exist")


def test_event_time_is_eventbridge_s_utc_text():
    assert new_image._when("2026-11-28T00:14:03Z") == SUCCEEDED_AT
