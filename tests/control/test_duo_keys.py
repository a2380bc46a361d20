"""The Duo keys custom resource, against moto's Secrets Manager: new keys reach AWSCURRENT, the RADIUS shared secret
and its version stages stay as the rotation left them, an unchanged request makes no version, and a rotation in
progress is refused rather than undone."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from duomfa.control.duo_keys import apply, merge_duo_keys

RADIUS_SECRET = "r4dius-Secret-0123456789abcdefgh"
PROPERTIES = {"IntegrationKey": "DIABCDEFGHIJ01234567", "SecretKey": "s" * 40,
              "ApiHost": "api-1234abcd.duosecurity.com"}
KEYS = {"ikey": PROPERTIES["IntegrationKey"], "skey": PROPERTIES["SecretKey"], "api_host": PROPERTIES["ApiHost"]}


@pytest.fixture
def secretsmanager():
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-gov-west-1")


@pytest.fixture
def secret_id(secretsmanager) -> str:
    # what CloudFormation generates from the fixed template: only the shared secret
    return secretsmanager.create_secret(Name="duomfa", SecretString=json.dumps({"radius_secret": RADIUS_SECRET}))["ARN"]


def stages(secretsmanager, secret_id) -> dict[str, list[str]]:
    return {v: s for v, s in secretsmanager.describe_secret(SecretId=secret_id)["VersionIdsToStages"].items() if s}


def current(secretsmanager, secret_id) -> dict:
    return json.loads(secretsmanager.get_secret_value(SecretId=secret_id)["SecretString"])


def event(request_type: str, secret_id: str, **properties) -> dict:
    return {"RequestType": request_type, "RequestId": "r-1", "StackId": "s", "LogicalResourceId": "DuoKeys",
            "ResponseURL": "https://example.invalid/", "ResourceProperties": {"SecretId": secret_id, **PROPERTIES,
                                                                             **properties}}


def test_create_writes_the_keys_next_to_the_generated_shared_secret(secretsmanager, secret_id):
    answer = apply(event("Create", secret_id), secretsmanager)
    assert answer["Status"] == "SUCCESS" and answer["Reason"] == "Duo keys updated"
    assert current(secretsmanager, secret_id) == {"radius_secret": RADIUS_SECRET, **KEYS}
    # the generated first version had no Duo keys and no other stage: no AWSPREVIOUS appears
    assert sorted(stages(secretsmanager, secret_id).values()) == [["AWSCURRENT"]]


def test_changed_keys_keep_the_shared_secret_and_the_rotation_s_previous_version(secretsmanager, secret_id):
    merge_duo_keys(secretsmanager, secret_id, KEYS)
    # a rotation happened since: AWSPREVIOUS holds the old shared secret the directory may still use
    rotated = secretsmanager.put_secret_value(SecretId=secret_id, SecretString=json.dumps(
        {**KEYS, "radius_secret": "n3w-Secret-0123456789abcdefghijk", "radius_clients": ["10.0.0.10"]}))["VersionId"]
    previous = next(v for v, s in stages(secretsmanager, secret_id).items() if "AWSPREVIOUS" in s)

    answer = apply(event("Update", secret_id, SecretKey="t" * 40, ApiHost="api-1234abcd.duofederal.com"),
                   secretsmanager)

    assert answer["Status"] == "SUCCESS"
    assert current(secretsmanager, secret_id) == {
        "ikey": KEYS["ikey"], "skey": "t" * 40, "api_host": "api-1234abcd.duofederal.com",
        "radius_secret": "n3w-Secret-0123456789abcdefghijk", "radius_clients": ["10.0.0.10"]}
    after = stages(secretsmanager, secret_id)
    assert after[previous] == ["AWSPREVIOUS"]  # still the rotation's previous secret, not the version we replaced
    assert rotated not in after  # the replaced version (same shared secret) carries no stage
    old = json.loads(secretsmanager.get_secret_value(SecretId=secret_id, VersionStage="AWSPREVIOUS")["SecretString"])
    assert old["radius_secret"] == RADIUS_SECRET


def test_unchanged_keys_make_no_new_version(secretsmanager, secret_id):
    merge_duo_keys(secretsmanager, secret_id, KEYS)
    before = secretsmanager.describe_secret(SecretId=secret_id)["VersionIdsToStages"]
    assert merge_duo_keys(secretsmanager, secret_id, KEYS) == "unchanged"
    assert secretsmanager.describe_secret(SecretId=secret_id)["VersionIdsToStages"] == before


def test_a_rotation_in_progress_is_refused_and_nothing_changes(secretsmanager, secret_id):
    merge_duo_keys(secretsmanager, secret_id, KEYS)
    secretsmanager.put_secret_value(SecretId=secret_id, ClientRequestToken="pending-token-0000000000000000000000",
                                    SecretString=json.dumps({**KEYS, "radius_secret": "p" * 32}),
                                    VersionStages=["AWSPENDING"])
    before = secretsmanager.describe_secret(SecretId=secret_id)["VersionIdsToStages"]
    answer = apply(event("Update", secret_id, SecretKey="t" * 40), secretsmanager)
    assert answer["Status"] == "FAILED"
    assert "rotation of the RADIUS shared secret is in progress" in answer["Reason"]
    assert "t" * 40 not in answer["Reason"]
    assert secretsmanager.describe_secret(SecretId=secret_id)["VersionIdsToStages"] == before


def test_delete_leaves_the_secret_alone(secretsmanager, secret_id):
    merge_duo_keys(secretsmanager, secret_id, KEYS)
    before = secretsmanager.describe_secret(SecretId=secret_id)["VersionIdsToStages"]
    answer = apply({**event("Delete", secret_id), "PhysicalResourceId": "duo-keys-x"}, secretsmanager)
    assert answer == {"Status": "SUCCESS", "PhysicalResourceId": "duo-keys-x",
                      "Reason": "nothing to delete: the keys go with the secret"}
    assert secretsmanager.describe_secret(SecretId=secret_id)["VersionIdsToStages"] == before


def test_a_secret_that_is_not_the_proxies_json_is_refused(secretsmanager):
    other = secretsmanager.create_secret(Name="other", SecretString="not json")["ARN"]
    answer = apply(event("Create", other), secretsmanager)
    assert answer["Status"] == "FAILED" and "is not JSON" in answer["Reason"]


def test_errors_never_carry_the_secret_key(secretsmanager):
    answer = apply(event("Create", "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:missing-AbCdEf"),
                   secretsmanager)
    assert answer["Status"] == "FAILED" and "ResourceNotFoundException" in answer["Reason"]
    assert PROPERTIES["SecretKey"] not in json.dumps(answer)


def test_missing_keys_are_refused(secretsmanager, secret_id):
    answer = apply(event("Create", secret_id, SecretKey=""), secretsmanager)
    assert answer["Status"] == "FAILED" and answer["Reason"] == "missing SecretKey"
