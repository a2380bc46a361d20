"""The DescribeDirectories custom resource: what it reads from each kind of directory, what it refuses, and that
CloudFormation always gets an answer. Directory Service calls are checked with botocore's Stubber against the real
service model (moto's describe_directories has no RADIUS fields and its types are not checked)."""

from __future__ import annotations

import json
import urllib.request

import boto3
import pytest
from botocore.stub import Stubber

from duomfa.control.directory_lookup import handler, lookup

DIRECTORY_ID = "d-1234567890"
EVENT = {
    "RequestType": "Create", "ServiceToken": "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:lookup",
    "ResponseURL": "https://cloudformation-custom-resource-response-usgovwest1.s3.us-gov-west-1.amazonaws.com/x",
    "StackId": "arn:aws-us-gov:cloudformation:us-gov-west-1:123456789012:stack/DuoMfa/guid",
    "RequestId": "request-1", "LogicalResourceId": "DirectoryLookup", "ResourceType": "Custom::DirectoryLookup",
    "ResourceProperties": {"DirectoryId": DIRECTORY_ID, "DirectoryType": "MicrosoftAD"},
}


def managed_ad(**overrides) -> dict:
    directory = {
        "DirectoryId": DIRECTORY_ID, "Name": "corp.example.com", "Type": "MicrosoftAD", "Stage": "Active",
        "DnsIpAddrs": ["10.0.32.10", "10.0.0.9"],
        "VpcSettings": {"VpcId": "vpc-0123456789abcdef0", "SubnetIds": ["subnet-0bbbbbbb", "subnet-0aaaaaaa"],
                        "SecurityGroupId": "sg-0123456789abcdef0", "AvailabilityZones": ["us-gov-west-1a",
                                                                                         "us-gov-west-1b"]},
    }
    directory.update(overrides)
    return directory


def ad_connector() -> dict:
    return {"DirectoryId": DIRECTORY_ID, "Name": "corp.example.com", "Type": "ADConnector", "Stage": "Active",
            "DnsIpAddrs": ["192.168.0.2", "192.168.0.3"],  # the on-premises DNS, not the RADIUS clients
            "ConnectSettings": {"VpcId": "vpc-0123456789abcdef0", "SubnetIds": ["subnet-0aaaaaaa", "subnet-0bbbbbbb"],
                                "SecurityGroupId": "sg-0fedcba9876543210", "ConnectIps": ["10.0.1.20", "10.0.0.20"],
                                "CustomerUserName": "svc-connector", "AvailabilityZones": ["a", "b"]}}


@pytest.fixture
def ds():
    client = boto3.client("ds", region_name="us-gov-west-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        client.stubber = stubber
        yield client
        stubber.assert_no_pending_responses()


def answer_with(ds, *directories: dict) -> None:
    ds.stubber.add_response("describe_directories", {"DirectoryDescriptions": list(directories)},
                            {"DirectoryIds": [DIRECTORY_ID]})


def test_managed_ad_gives_vpc_sorted_subnets_security_group_and_dc_addresses(ds):
    answer_with(ds, managed_ad())
    answer = lookup(EVENT, ds)
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == f"directory-lookup-{DIRECTORY_ID}"
    assert answer["Data"] == {
        "DirectoryId": DIRECTORY_ID, "DirectoryType": "MicrosoftAD", "VpcId": "vpc-0123456789abcdef0",
        "SubnetIds": "subnet-0aaaaaaa,subnet-0bbbbbbb", "SubnetId1": "subnet-0aaaaaaa", "SubnetId2": "subnet-0bbbbbbb",
        "SecurityGroupId": "sg-0123456789abcdef0", "DomainControllerAddresses": "10.0.0.9,10.0.32.10"}


def test_ad_connector_gives_its_connect_ips_not_the_on_premises_dns(ds):
    answer_with(ds, ad_connector())
    event = {**EVENT, "ResourceProperties": {"DirectoryId": DIRECTORY_ID, "DirectoryType": "ADConnector"}}
    answer = lookup(event, ds)
    assert answer["Status"] == "SUCCESS"
    assert answer["Data"]["DomainControllerAddresses"] == "10.0.0.20,10.0.1.20"
    assert answer["Data"]["SecurityGroupId"] == "sg-0fedcba9876543210"


def test_more_than_two_domain_controllers_are_all_clients(ds):
    answer_with(ds, managed_ad(DnsIpAddrs=["10.0.0.9", "10.0.32.10", "10.0.0.11"]))
    assert lookup(EVENT, ds)["Data"]["DomainControllerAddresses"] == "10.0.0.9,10.0.0.11,10.0.32.10"


@pytest.mark.parametrize("directory, reason", [
    (managed_ad(VpcSettings={"VpcId": "vpc-0123456789abcdef0", "SubnetIds": ["subnet-0aaaaaaa"],
                             "SecurityGroupId": "sg-0123456789abcdef0"}), "1 subnet"),
    (managed_ad(DnsIpAddrs=["10.0.0.9"]), "1 domain-controller address"),
    (managed_ad(DnsIpAddrs=[]), "0 domain-controller address"),
    (managed_ad(Type="SimpleAD"), "SimpleAD"),
    (ad_connector(), "told MicrosoftAD"),
])
def test_a_directory_that_cannot_serve_mfa_fails_with_the_reason(ds, directory, reason):
    answer_with(ds, directory)
    answer = lookup(EVENT, ds)
    assert answer["Status"] == "FAILED"
    assert reason in answer["Reason"]
    assert answer["Data"] == {}


def test_an_unknown_directory_fails(ds):
    answer_with(ds)
    answer = lookup(EVENT, ds)
    assert answer["Status"] == "FAILED" and "was not found" in answer["Reason"]


def test_an_api_error_fails_with_its_code(ds):
    ds.stubber.add_client_error("describe_directories", service_error_code="EntityDoesNotExistException",
                                http_status_code=400, expected_params={"DirectoryIds": [DIRECTORY_ID]})
    answer = lookup(EVENT, ds)
    assert answer["Status"] == "FAILED" and "EntityDoesNotExistException" in answer["Reason"]


def test_delete_succeeds_without_calling_directory_service(ds):
    event = {**EVENT, "RequestType": "Delete", "PhysicalResourceId": "directory-lookup-d-1234567890"}
    answer = lookup(event, ds)  # the stubber would raise on any call
    assert (answer["Status"], answer["PhysicalResourceId"]) == ("SUCCESS", "directory-lookup-d-1234567890")


class Captured:
    def __init__(self):
        self.requests = []

    def urlopen(self, request, timeout):
        self.requests.append((request, timeout))

        class Reply:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def read(self):
                return b""
        return Reply()


class Context:
    log_stream_name = "2026/11/24/[$LATEST]abc"


def test_handler_answers_cloudformation_with_the_data(ds, monkeypatch):
    answer_with(ds, managed_ad())
    captured = Captured()
    monkeypatch.setattr(urllib.request, "urlopen", captured.urlopen)
    monkeypatch.setattr(boto3, "client", lambda service, **kwargs: ds)
    handler(EVENT, Context())
    ((request, timeout),) = captured.requests
    assert request.get_method() == "PUT" and request.full_url == EVENT["ResponseURL"]
    body = json.loads(request.data)
    assert body["Status"] == "SUCCESS" and body["RequestId"] == "request-1"
    assert body["Data"]["SubnetId2"] == "subnet-0bbbbbbb"
    assert request.get_header("Content-type") == ""  # the pre-signed URL is signed without a content type


def test_handler_answers_failed_even_when_the_lookup_itself_breaks(monkeypatch):
    captured = Captured()
    monkeypatch.setattr(urllib.request, "urlopen", captured.urlopen)

    def broken(*args, **kwargs):
        raise RuntimeError("no endpoint")
    monkeypatch.setattr(boto3, "client", broken)
    handler(EVENT, Context())  # the original's handler raised NameError here and CloudFormation waited an hour
    ((request, _),) = captured.requests
    body = json.loads(request.data)
    assert body["Status"] == "FAILED" and "RuntimeError" in body["Reason"]
    assert body["PhysicalResourceId"]
