"""Reasons for cdk-nag suppressions shared by several constructs (each suppression still sits next to its resource)."""

# CDK attaches a role's grants as a policy owned by that one role (AWS::IAM::Policy, an "inline" policy to
# NIST.800.53.R5-IAMNoInlinePolicy); the statements name only this stack's resources.
ROLE_POLICY_REASON = ("CDK's grant policy, owned by this one role and naming only this stack's resources; "
                      "customer-managed policies instead are listed as remaining work")


def custom_resource_function_reasons(outside_vpc: str) -> list[dict[str, str]]:
    """The NIST Lambda rules a CloudFormation custom-resource function does not need, with why."""
    return [
        {"id": "NIST.800.53.R5-LambdaInsideVPC", "reason": outside_vpc},
        {"id": "NIST.800.53.R5-LambdaDLQ", "reason": "invoked by CloudFormation, which is always answered "
                                                     "(failures included); a dead-letter queue would stay empty"},
        {"id": "NIST.800.53.R5-LambdaConcurrency", "reason": "runs once per stack operation; reserving "
                                                             "concurrency fails in accounts with the minimum "
                                                             "concurrency quota"},
    ]
