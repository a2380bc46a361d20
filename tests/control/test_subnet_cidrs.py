"""The subnet CIDR lookup (existing-VPC stack): the proxies accept Status-Server from the rotation Lambda's subnets,
whose blocks the stack cannot know. Checked against moto's EC2; CloudFormation always gets an answer."""

from __future__ import annotations

import json
import urllib.request

import boto3
import pytest
from moto import mock_aws

from duomfa.control.subnet_cidrs import answer, handler

EVENT = {
    "RequestType": "Create", "ResponseURL": "https://cloudformation-custom-resource-response.s3.amazonaws.com/x",
    "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/DuoMfa/guid", "RequestId": "request-1",
    "LogicalResourceId": "ProxySubnetCidrs", "ResourceType": "Custom::SubnetCidrs", "ResourceProperties": {},
}


@pytest.fixture
def subnets():
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
        ids = [ec2.create_subnet(VpcId=vpc, CidrBlock=block)["Subnet"]["SubnetId"]
               for block in ("10.20.32.0/19", "10.20.0.0/19")]
        yield ec2, ids


def event(subnet_ids: str, request: str = "Create") -> dict:
    return {**EVENT, "RequestType": request, "ResourceProperties": {"SubnetIds": subnet_ids}}


def test_blocks_come_in_the_order_of_the_subnets(subnets):
    ec2, ids = subnets
    result = answer(event(",".join(ids)), ec2)
    assert result["Status"] == "SUCCESS"
    assert result["Data"] == {"CidrBlocks": "10.20.32.0/19,10.20.0.0/19"}


def test_an_unknown_subnet_fails_with_the_reason(subnets):
    ec2, ids = subnets
    result = answer(event(f"{ids[0]},subnet-0123456789abcdef0"), ec2)
    assert result["Status"] == "FAILED" and "subnet-0123456789abcdef0" in result["Reason"]


def test_no_subnets_fails_and_delete_succeeds_without_calling_ec2():
    assert answer(event(""), None)["Status"] == "FAILED"
    deleted = answer({**event("subnet-1"), "RequestType": "Delete", "PhysicalResourceId": "subnet-cidrs-x"}, None)
    assert (deleted["Status"], deleted["PhysicalResourceId"]) == ("SUCCESS", "subnet-cidrs-x")


def test_handler_answers_cloudformation_even_when_boto3_breaks(monkeypatch):
    sent = []

    class Reply:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return b""

    monkeypatch.setattr(urllib.request, "urlopen",
                        lambda request, timeout: sent.append(request) or Reply())

    def broken(*args, **kwargs):
        raise RuntimeError("no endpoint")
    monkeypatch.setattr(boto3, "client", broken)
    handler(event("subnet-1"), None)
    (request,) = sent
    body = json.loads(request.data)
    assert request.get_method() == "PUT" and body["Status"] == "FAILED" and "RuntimeError" in body["Reason"]
    assert body["RequestId"] == "request-1"
