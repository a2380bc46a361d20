"""FIPS mode across the stack (the FipsMode parameter): which values the proxies, the image build and the functions
get, and FIPS endpoints for every AWS SDK client in the stack (docs/deploy.md, "Duo Federal and CMMC")."""

from __future__ import annotations

import jsii
from aws_cdk import CfnCondition, Fn, IAspect
from aws_cdk import aws_lambda as lambda_
from constructs import IConstruct

# Every service an AWS SDK client in the stack calls: the proxies (secretsmanager), the control-plane functions, the
# custom resources and CDK's provider framework (lambda, stepfunctions), and the image build's gate (ecr, inspector2).
# A test keeps this list equal to the clients the code creates.
SDK_SERVICES = ("codepipeline", "ds", "ec2", "ecr", "ecs", "inspector2", "lambda", "secretsmanager", "sns", "ssm",
                "stepfunctions")
# The regions where every one of SDK_SERVICES has a FIPS endpoint, by the AWS SDK's endpoint model (botocore's
# endpoints.json); a test recomputes it. Elsewhere, AWS_USE_FIPS_ENDPOINT=true makes the SDK build host names
# such as lambda-fips.eu-west-1.amazonaws.com that do not exist.
FIPS_ENDPOINT_REGIONS = ("us-east-1", "us-east-2", "us-west-1", "us-west-2", "us-gov-east-1", "us-gov-west-1")

ENDPOINT_VARIABLE = "AWS_USE_FIPS_ENDPOINT"  # read by boto3 and the AWS SDK for JavaScript alike


class FipsValues:
    """The condition's value in the words each consumer reads: `flag` ("true"/"false": DUOMFA_FIPS_MODE,
    AWS_USE_FIPS_ENDPOINT) and `yes_no` ("Yes"/"No": the build's FIPS_IMAGE, the first-image resource)."""

    def __init__(self, condition: CfnCondition) -> None:
        self.condition = condition
        self.flag = Fn.condition_if(condition.logical_id, "true", "false").to_string()
        self.yes_no = Fn.condition_if(condition.logical_id, "Yes", "No").to_string()


@jsii.implements(IAspect)
class FipsEndpoints:
    """Sets AWS_USE_FIPS_ENDPOINT on every Lambda function in the stack — the control plane's, the custom resources'
    and CDK's provider framework's alike — so that no function added later is missed."""

    def __init__(self, values: FipsValues) -> None:
        self.values = values

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, lambda_.CfnFunction):
            node.add_property_override(f"Environment.Variables.{ENDPOINT_VARIABLE}", self.values.flag)
