"""CloudFormation custom resource: the CIDR blocks of the given subnets (ec2:DescribeSubnets), for subnets the stack
did not create. The proxies accept Status-Server probes from these blocks: the rotation Lambda runs there.

Inline source (index.py): standard library and boto3. Answers CloudFormation on every path, with the reason.
"""

from __future__ import annotations

from typing import Any

from duomfa.control.inline_support import error_code, log, send_response


def cidr_blocks(ec2: Any, subnet_ids: list[str]) -> str:
    subnets = ec2.describe_subnets(SubnetIds=subnet_ids)["Subnets"]
    by_id = {subnet["SubnetId"]: subnet["CidrBlock"] for subnet in subnets}
    missing = [subnet_id for subnet_id in subnet_ids if subnet_id not in by_id]
    if missing:
        raise LookupError(f"subnets not found: {', '.join(missing)}")
    return ",".join(by_id[subnet_id] for subnet_id in subnet_ids)


def answer(event: dict[str, Any], ec2: Any) -> dict[str, Any]:
    """{Status, PhysicalResourceId, Data, Reason} for one request."""
    ids = [s.strip() for s in str(event.get("ResourceProperties", {}).get("SubnetIds", "")).split(",") if s.strip()]
    physical_id = f"subnet-cidrs-{'-'.join(ids) or 'none'}"
    if event.get("RequestType") == "Delete":
        return {"Status": "SUCCESS", "PhysicalResourceId": event.get("PhysicalResourceId") or physical_id,
                "Data": {}, "Reason": "nothing to delete"}
    try:
        if not ids:
            raise LookupError("no SubnetIds given")
        blocks = cidr_blocks(ec2, ids)
    except Exception as exc:  # botocore's errors are generated per service; any of them must reach CloudFormation
        # our own LookupError says which subnets are missing; botocore's errors are reported by their code
        detail = str(exc) if isinstance(exc, LookupError) else error_code(exc)
        return {"Status": "FAILED", "PhysicalResourceId": physical_id, "Data": {},
                "Reason": f"ec2:DescribeSubnets for {', '.join(ids) or 'nothing'} failed: {detail}"}
    return {"Status": "SUCCESS", "PhysicalResourceId": physical_id, "Data": {"CidrBlocks": blocks},
            "Reason": f"{', '.join(ids)}: {blocks}"}


def handler(event: dict[str, Any], context: Any) -> None:
    result: dict[str, Any] = {"Status": "FAILED", "PhysicalResourceId": event.get("PhysicalResourceId") or
                              "subnet-cidrs-failed", "Data": {}, "Reason": "the lookup did not run"}
    try:
        import boto3

        result = answer(event, boto3.client("ec2"))
    except Exception as exc:  # never leave CloudFormation waiting
        result["Reason"] = f"the lookup failed: {type(exc).__name__}"
    log("subnet_cidrs", request=event.get("RequestType"), status=result["Status"], reason=result["Reason"])
    send_response(event, context, result)
