"""After each image build, the control-plane Lambdas move to the new `latest` image, so none is left on an image the
repository's lifecycle expires. Lambda calls are checked with botocore's Stubber against the real service model."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from duomfa.control import function_images
from duomfa.control.function_images import CONFLICT_RETRIES, refresh

IMAGE = "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com/duomfa:latest"
NAMES = ["DuoMfa-Rotation", "DuoMfa-Tracker"]


@pytest.fixture
def lambda_client():
    client = boto3.client("lambda", region_name="us-gov-west-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        client.stubber = stubber
        yield client
        stubber.assert_no_pending_responses()


def updated(client, name: str) -> None:
    client.stubber.add_response("update_function_code", {"FunctionName": name, "CodeSha256": f"sha-{name}"},
                                {"FunctionName": name, "ImageUri": IMAGE})


def test_every_function_gets_the_latest_image(lambda_client):
    for name in NAMES:
        updated(lambda_client, name)
    assert refresh(lambda_client, NAMES, IMAGE) == {name: f"updated to sha-{name}" for name in NAMES}


def test_an_update_in_progress_is_waited_for(lambda_client):
    lambda_client.stubber.add_client_error("update_function_code", "ResourceConflictException", http_status_code=409)
    updated(lambda_client, NAMES[0])
    waits: list[float] = []
    assert refresh(lambda_client, NAMES[:1], IMAGE, sleep=waits.append)[NAMES[0]].startswith("updated")
    assert waits == [function_images.CONFLICT_WAIT_SECONDS]


def test_a_function_not_created_yet_is_skipped(lambda_client):
    # a new stack's first build succeeds before the functions exist; the stack creates them with this image
    lambda_client.stubber.add_client_error("update_function_code", "ResourceNotFoundException", http_status_code=404)
    assert refresh(lambda_client, NAMES[:1], IMAGE) == {NAMES[0]: "skipped: no such function yet"}


def test_one_failure_still_moves_the_others_and_then_fails_the_run(lambda_client):
    lambda_client.stubber.add_client_error("update_function_code", "AccessDeniedException", http_status_code=403)
    updated(lambda_client, NAMES[1])
    with pytest.raises(RuntimeError, match=f"could not move {NAMES[0]} to {IMAGE}"):
        refresh(lambda_client, NAMES, IMAGE)


def test_a_conflict_that_does_not_end_fails(lambda_client):
    for _ in range(CONFLICT_RETRIES + 1):
        lambda_client.stubber.add_client_error("update_function_code", "ResourceConflictException",
                                               http_status_code=409)
    with pytest.raises(RuntimeError):
        refresh(lambda_client, NAMES[:1], IMAGE, sleep=lambda seconds: None)


def test_handler_reads_its_functions_and_image_from_the_environment(lambda_client, monkeypatch):
    for name in NAMES:
        updated(lambda_client, name)
    monkeypatch.setenv("FUNCTIONS", " , ".join(NAMES))
    monkeypatch.setenv("IMAGE_URI", IMAGE)
    monkeypatch.setattr(boto3, "client", lambda service, **kwargs: lambda_client)
    assert set(function_images.handler({"detail": {"execution-id": "e-1"}}, None)) == set(NAMES)
