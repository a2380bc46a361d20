"""Reasons for cdk-nag suppressions shared by several constructs (each suppression still sits next to its resource), and
the names cdk-nag gives the wildcards an AwsSolutions-IAM5 suppression applies to."""

from __future__ import annotations

from aws_cdk import Stack
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import IConstruct

from duomfa.infra.escape_hatch import cfn_resource

ANY_RESOURCE = "Resource::*"  # actions without resource-level permissions
# CDK's grant to read and write a bucket's objects
BUCKET_READ_WRITE_ACTIONS = [f"Action::s3:{action}*" for action in ("Abort", "DeleteObject", "GetBucket", "GetObject",
                                                                     "List")]

# CDK attaches a role's grants as a policy owned by that one role (AWS::IAM::Policy, an "inline" policy to
# NIST.800.53.R5-IAMNoInlinePolicy); the statements name only this stack's resources.
ROLE_POLICY_REASON = ("CDK's grant policy, owned by this one role and naming only this stack's resources; "
                      "customer-managed policies instead are listed as remaining work")


ONCE_PER_STACK_OPERATION = ("runs once per stack operation; reserving concurrency fails in accounts with the "
                            "minimum concurrency quota")


# the address tracker's and the directory updater's: they call only AWS APIs, and overlapping runs are safe
OVERLAP_SAFE_FUNCTION_REASONS = [
    {"id": "NIST.800.53.R5-LambdaInsideVPC", "reason": "it calls only AWS APIs (ECS, SSM, Secrets Manager, Directory "
                                                       "Service, SNS) and needs nothing inside the VPC"},
    {"id": "NIST.800.53.R5-LambdaConcurrency", "reason": "reserving concurrency fails a first create in accounts "
                                                         "with the minimum quota; overlapping runs are safe by design "
                                                         "(each re-reads the live state and converges on the "
                                                         "latest)"},
]


def custom_resource_function_reasons(outside_vpc: str, *, invoked_by: str = "CloudFormation") -> list[dict[str, str]]:
    """The NIST Lambda rules a CloudFormation custom-resource function does not need, with why. `invoked_by`: who
    calls it synchronously and answers CloudFormation on failure (CloudFormation itself, or the provider
    framework)."""
    return [
        {"id": "NIST.800.53.R5-LambdaInsideVPC", "reason": outside_vpc},
        {"id": "NIST.800.53.R5-LambdaDLQ", "reason": f"invoked synchronously by {invoked_by}, which always answers "
                                                     "CloudFormation (failures included); a dead-letter queue "
                                                     "would stay empty"},
        {"id": "NIST.800.53.R5-LambdaConcurrency", "reason": ONCE_PER_STACK_OPERATION},
    ]


def logical_id(construct: IConstruct) -> str:
    return Stack.of(construct).get_logical_id(cfn_resource(construct))


def arn_wildcard(construct: IConstruct, suffix: str) -> str:
    """cdk-nag's name for the construct's ARN followed by a wildcard: ":*" (a function's versions and aliases),
    "/*" (a bucket's objects)."""
    return f"Resource::<{logical_id(construct)}.Arn>{suffix}"


def arn_pattern(service: str, resource: str) -> str:
    """cdk-nag's name for arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE, with <LogicalId> for a resource's Ref."""
    return f"Resource::arn:<AWS::Partition>:{service}:<AWS::Region>:<AWS::AccountId>:{resource}"


def suppress_role_policy(role: IConstruct) -> None:
    """NIST.800.53.R5-IAMNoInlinePolicy on the role's grants policy, for ROLE_POLICY_REASON. Call once the policy
    exists: a suppression applies to the children there are."""
    NagSuppressions.add_resource_suppressions(role, [
        {"id": "NIST.800.53.R5-IAMNoInlinePolicy", "reason": ROLE_POLICY_REASON},
    ], apply_to_children=True)


def wildcards(reason: str, applies_to: list[str]) -> NagPackSuppression:
    """An AwsSolutions-IAM5 suppression for exactly these wildcards, so a new one is still reported. A struct, not a
    dict: jsii passes a dict's keys through unchanged, and cdk-nag ignores an "applies_to" key (it reads appliesTo)."""
    return NagPackSuppression(id="AwsSolutions-IAM5", reason=reason, applies_to=list(applies_to))
