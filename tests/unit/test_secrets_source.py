"""Secrets sources: every stage of a Secrets Manager secret (through moto) or a file, read as valid versions."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from moto import mock_aws

from duomfa.config import ProxySettings, RadiusClient, parse_networks
from duomfa.proxy.secrets_source import (
    RETIRED_TAG,
    FileSource,
    SecretsManagerSource,
    SecretsSourceError,
    build_client_table,
    state_from_stages,
)

REGION = "us-gov-west-1"


@pytest.fixture
def secretsmanager(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


def document(secret, **extra):
    return json.dumps({"radius_secret": secret, **extra})


async def test_all_three_stages_are_read_during_a_rotation(secretsmanager):
    arn = secretsmanager.create_secret(
        Name="duomfa", SecretString=document("first", ikey="DI" + "A" * 18, skey="k" * 40,
                                             api_host="api-x.duofederal.com", radius_clients=["10.0.1.0/24"]))["ARN"]
    second = secretsmanager.put_secret_value(SecretId=arn, SecretString=document(
        "second", ikey="DI" + "A" * 18, skey="k" * 40, api_host="api-x.duofederal.com"))["VersionId"]
    pending = secretsmanager.put_secret_value(SecretId=arn, SecretString=document("third"),
                                              VersionStages=["AWSPENDING"])["VersionId"]
    state = await SecretsManagerSource(arn, client=secretsmanager).read()
    assert [v.secret for v in state.versions] == [b"second", b"third", b"first"]
    assert [v.label.split(":")[0] for v in state.versions] == ["AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"]
    assert state.versions[0].label == f"AWSCURRENT:{second[:8]}" and state.versions[1].label.endswith(pending[:8])
    assert state.ikey == "DI" + "A" * 18 and state.skey.reveal() == "k" * 40
    assert "k" * 40 not in repr(state)


async def test_no_pending_stage_is_normal(secretsmanager):
    arn = secretsmanager.create_secret(Name="duomfa", SecretString=document("only"))["ARN"]
    state = await SecretsManagerSource(arn, client=secretsmanager).read()
    assert [v.secret for v in state.versions] == [b"only"]


async def test_unreadable_secret_is_an_error_without_the_secret_in_it(secretsmanager):
    arn = secretsmanager.create_secret(Name="duomfa", SecretString="not json, and secret-ish")["ARN"]
    with pytest.raises(SecretsSourceError) as caught:
        await SecretsManagerSource(arn, client=secretsmanager).read()
    assert "secret-ish" not in str(caught.value)
    with pytest.raises(SecretsSourceError, match="ResourceNotFoundException"):
        await SecretsManagerSource("arn:aws:secretsmanager:us-east-1:123456789012:secret:nope",
                                   client=secretsmanager).read()


def test_previous_secret_stops_being_valid_when_the_control_plane_retires_it():
    now = time.time()
    stages = {"AWSCURRENT": ("v2", {"radius_secret": "new"}), "AWSPREVIOUS": ("v1", {"radius_secret": "old"})}
    assert [v.secret for v in state_from_stages(stages, None, now).versions] == [b"new", b"old"]
    assert [v.secret for v in state_from_stages(stages, ("v1", now - 1), now).versions] == [b"new"]
    assert [v.secret for v in state_from_stages(stages, ("v1", now + 600), now).versions] == [b"new", b"old"]
    # a tag left from an earlier rotation names another version: it retires nothing
    assert [v.secret for v in state_from_stages(stages, ("v0", now - 1), now).versions] == [b"new", b"old"]


async def test_retired_tag_is_read_from_secrets_manager(secretsmanager):
    arn = secretsmanager.create_secret(Name="duomfa", SecretString=document("first"))["ARN"]
    first = next(iter(secretsmanager.describe_secret(SecretId=arn)["VersionIdsToStages"]))
    secretsmanager.put_secret_value(SecretId=arn, SecretString=document("second"))
    source = SecretsManagerSource(arn, client=secretsmanager)
    assert [v.secret for v in (await source.read()).versions] == [b"second", b"first"]
    secretsmanager.tag_resource(SecretId=arn, Tags=[{"Key": RETIRED_TAG, "Value": f"{first}@{time.time() - 5}"}])
    assert [v.secret for v in (await source.read()).versions] == [b"second"]


async def test_file_source_and_the_client_table_it_builds(tmp_path):
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"AWSCURRENT": {"radius_secret": "a", "radius_clients": ["10.0.2.5"]},
                                "AWSPENDING": {"radius_secret": "b"}}))
    state = await FileSource(path).read()
    settings = ProxySettings(ikey="", skey=None, api_host="", secrets_source=f"file:{path}",
                             clients=(RadiusClient("radius_ip_1", parse_networks("10.0.1.0/24"), None),))
    table = build_client_table(settings, state)
    assert [v.secret for v in table.lookup("10.0.1.7").secrets] == [b"a", b"b"]
    assert table.lookup("10.0.2.5").name == "radius_clients"
    assert table.lookup("10.0.3.1") is None
    path.write_text("{")
    with pytest.raises(SecretsSourceError, match="not JSON"):
        await FileSource(path).read()
