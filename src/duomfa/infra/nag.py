"""Reasons for cdk-nag suppressions shared by several constructs (each suppression still sits next to its resource)."""

# CDK attaches a role's grants as a policy owned by that one role (AWS::IAM::Policy, an "inline" policy to
# NIST.800.53.R5-IAMNoInlinePolicy); the statements name only this stack's resources.
ROLE_POLICY_REASON = ("CDK's grant policy, owned by this one role and naming only this stack's resources; "
                      "customer-managed policies instead are listed as remaining work")


ONCE_PER_STACK_OPERATION = ("runs once per stack operation; reserving concurrency fails in accounts with the "
                            "minimum concurrency quota")


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
