"""CloudFormation custom resource that reads a directory's VPC, subnets, security group and domain-controller
addresses with ds:DescribeDirectories, so a stack needs only the directory ID.

Inline source (index.py), standard library and boto3 only. It answers CloudFormation on every path — a lookup that
fails says why, instead of leaving the stack waiting an hour.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from duomfa.control.inline_support import error_code, log, send_response


class DirectoryLookupError(Exception):
    """The directory cannot serve Duo MFA as found; the message says what was found and what to do."""


def describe_directory(ds: Any, directory_id: str, expected_type: str = "") -> dict[str, str]:
    """The directory's network facts, as the string attributes the stack reads with Fn::GetAtt."""
    answer = ds.describe_directories(DirectoryIds=[directory_id])
    directories = answer.get("DirectoryDescriptions") or []
    if not directories:
        raise DirectoryLookupError(f"directory {directory_id} was not found in this account and region")
    directory = directories[0]
    kind = directory.get("Type", "")
    if kind == "MicrosoftAD":
        settings = directory.get("VpcSettings") or {}
        addresses = directory.get("DnsIpAddrs") or []
    elif kind == "ADConnector":
        settings = directory.get("ConnectSettings") or {}
        addresses = settings.get("ConnectIps") or []
    else:
        raise DirectoryLookupError(f"directory {directory_id} is of type {kind or 'unknown'}; Duo MFA needs AWS "
                                   "Managed Microsoft AD or AD Connector (Simple AD has no MFA)")
    if expected_type and kind != expected_type:
        raise DirectoryLookupError(f"directory {directory_id} is of type {kind}, but the stack was told "
                                   f"{expected_type}; correct the DirectoryType parameter")
    subnets = sorted(settings.get("SubnetIds") or [])
    if len(subnets) < 2:
        raise DirectoryLookupError(f"directory {directory_id} reports {len(subnets)} subnet(s); the proxies need "
                                   "the directory's two subnets (is the directory still being created?)")
    if len(addresses) < 2:
        raise DirectoryLookupError(f"directory {directory_id} reports {len(addresses)} domain-controller "
                                   "address(es); expected at least 2 (is the directory still being created?)")
    if not settings.get("VpcId") or not settings.get("SecurityGroupId"):
        raise DirectoryLookupError(f"directory {directory_id} reports no VPC or security group yet")
    addresses = sorted(addresses, key=ipaddress.ip_address)
    return {
        "DirectoryId": directory_id,
        "DirectoryType": kind,
        "VpcId": settings["VpcId"],
        "SubnetIds": ",".join(subnets),
        "SubnetId1": subnets[0],
        "SubnetId2": subnets[1],
        "SecurityGroupId": settings["SecurityGroupId"],
        "DomainControllerAddresses": ",".join(addresses),
    }


def lookup(event: dict[str, Any], ds: Any) -> dict[str, Any]:
    """Decide the answer to one CloudFormation request: {Status, PhysicalResourceId, Data, Reason}."""
    properties = event.get("ResourceProperties", {})
    directory_id = str(properties.get("DirectoryId", ""))
    physical_id = event.get("PhysicalResourceId") or f"directory-lookup-{directory_id or 'none'}"
    if event.get("RequestType") == "Delete":
        return {"Status": "SUCCESS", "PhysicalResourceId": physical_id, "Data": {}, "Reason": "nothing to delete"}
    try:
        data = describe_directory(ds, directory_id, str(properties.get("DirectoryType", "")))
    except DirectoryLookupError as exc:
        return {"Status": "FAILED", "PhysicalResourceId": physical_id, "Data": {}, "Reason": str(exc)}
    except Exception as exc:  # botocore's error classes are generated per service; any of them must reach CFN
        return {"Status": "FAILED", "PhysicalResourceId": physical_id, "Data": {},
                "Reason": f"ds:DescribeDirectories for {directory_id} failed: {error_code(exc)}"}
    return {"Status": "SUCCESS", "PhysicalResourceId": f"directory-lookup-{directory_id}", "Data": data,
            "Reason": f"found {data['DirectoryType']} {directory_id} in {data['VpcId']}"}


def handler(event: dict[str, Any], context: Any) -> None:
    answer: dict[str, Any] = {"Status": "FAILED", "PhysicalResourceId": event.get("PhysicalResourceId") or
                              "directory-lookup-failed", "Data": {}, "Reason": "the lookup did not run"}
    try:
        import boto3
        from botocore.config import Config

        ds = boto3.client("ds", config=Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 3}))
        answer = lookup(event, ds)
    except Exception as exc:  # never leave CloudFormation waiting
        answer["Reason"] = f"the lookup failed: {type(exc).__name__}"
    log("directory_lookup", request=event.get("RequestType"), status=answer["Status"], reason=answer["Reason"])
    send_response(event, context, answer)
