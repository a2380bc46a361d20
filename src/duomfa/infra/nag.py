"""Reasons for cdk-nag suppressions shared by several constructs (each suppression still sits next to its resource)."""

# CDK attaches a role's grants as a policy owned by that one role (AWS::IAM::Policy, an "inline" policy to
# NIST.800.53.R5-IAMNoInlinePolicy); the statements name only this stack's resources.
ROLE_POLICY_REASON = ("CDK's grant policy, owned by this one role and naming only this stack's resources; "
                      "customer-managed policies instead are listed as remaining work")
