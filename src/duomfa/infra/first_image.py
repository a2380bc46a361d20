"""The proxies start only once their image exists: a custom resource that runs the image pipeline on Create and
reports done when that run succeeded, within CloudFormation's one-hour budget (docs/design.md, "The first image")."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, CustomResource, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as stepfunctions
from aws_cdk import custom_resources as cr
from cdk_nag import NagSuppressions
from constructs import Construct

from duomfa.infra.escape_hatch import cfn_resource
from duomfa.infra.image_pipeline import ImagePipeline
from duomfa.infra.inline_function import LAMBDA_RUNTIME, inline_source
from duomfa.infra.inline_provider import inline_framework_code
from duomfa.infra.nag import ANY_RESOURCE, ROLE_POLICY_REASON, arn_wildcard, wildcards

HANDLER_SOURCE = Path(__file__).resolve().parent.parent / "control" / "first_image.py"
QUERY_INTERVAL = Duration.seconds(30)
TOTAL_TIMEOUT = Duration.minutes(55)  # the waiter's limit; a multiple of QUERY_INTERVAL (the framework requires it)
CLOUDFORMATION_LIMIT = Duration.hours(1)  # a custom resource's longest wait
SOURCE_STAGE_ALLOWANCE = Duration.minutes(5)  # the source action and the pipeline's own transitions

LAMBDA_NAG = [
    {"id": "NIST.800.53.R5-LambdaInsideVPC", "reason": "it only calls the CodePipeline and Lambda / Step Functions "
                                                       "APIs and needs no VPC resources"},
    {"id": "NIST.800.53.R5-LambdaDLQ", "reason": "invoked synchronously by the provider framework and its state "
                                                 "machine, which answer CloudFormation on failure; a dead-letter "
                                                 "queue would stay empty"},
    {"id": "NIST.800.53.R5-LambdaConcurrency", "reason": "runs a few times per stack creation; reserving "
                                                         "concurrency fails in accounts with the minimum quota"},
]


class FirstImage(Construct):
    """Exposes `resource` (the custom resource the proxy service depends on)."""

    def __init__(self, scope: Construct, construct_id: str, *, pipeline: ImagePipeline, key: kms.IKey,
                 log_retention_days: float, fips_image: str = "No") -> None:
        """`fips_image`: the FipsMode the image must have been built for; when an update turns it to "Yes", the
        resource runs the pipeline again and waits, so the proxies switch to fips_mode = true on a FIPS image."""
        super().__init__(scope, construct_id)
        budget = pipeline.build_timeout.to_seconds() + pipeline.queued_timeout.to_seconds()
        if budget + SOURCE_STAGE_ALLOWANCE.to_seconds() >= TOTAL_TIMEOUT.to_seconds():
            raise ValueError("the image build's timeouts leave the first-image wait no room: shorten the build")

        log_group = logs.LogGroup(self, "Logs", encryption_key=key, retention=logs.RetentionDays.ONE_YEAR,
                                  removal_policy=RemovalPolicy.DESTROY)
        cfn_resource(log_group).add_property_override("RetentionInDays", log_retention_days)

        handler_role = iam.Role(self, "HandlerRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                                description="Duo MFA: starts the image pipeline and reads how its run went")
        handler_role.add_to_policy(iam.PolicyStatement(
            actions=["codepipeline:StartPipelineExecution", "codepipeline:GetPipelineExecution",
                     "codepipeline:ListPipelineExecutions", "codepipeline:ListActionExecutions"],
            resources=[pipeline.pipeline_arn]))
        log_group.grant_write(handler_role)
        source = inline_source(HANDLER_SOURCE)

        def handler(name: str, entry: str, description: str) -> lambda_.Function:
            return lambda_.Function(self, name, runtime=LAMBDA_RUNTIME, handler=f"index.{entry}",
                                    code=lambda_.Code.from_inline(source), timeout=Duration.seconds(60),
                                    memory_size=128, role=handler_role, log_group=log_group, description=description)

        on_event = handler("OnEvent", "on_event_handler", "Duo MFA: starts the image pipeline for the first image")
        is_complete = handler("IsComplete", "is_complete_handler", "Duo MFA: reports when the first image exists")

        # the framework's own functions get roles without AWS managed policies (their log group is ours)
        framework_roles = [iam.Role(self, name, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                                    description=f"Duo MFA: custom-resource provider framework ({what})")
                           for name, what in (("FrameworkOnEventRole", "on event"),
                                              ("FrameworkWaiterRole", "is complete, on timeout"))]
        for role in framework_roles:
            log_group.grant_write(role)
        waiter_logs = logs.LogGroup(
            self, "WaiterLogs", encryption_key=key, retention=logs.RetentionDays.ONE_YEAR,
            removal_policy=RemovalPolicy.DESTROY,
            # Step Functions delivers through CloudWatch vended logs; this prefix keeps the account's log resource
            # policy from growing with every state machine
            log_group_name=f"/aws/vendedlogs/states/duomfa-first-image-{Aws.STACK_NAME}")
        cfn_resource(waiter_logs).add_property_override("RetentionInDays", log_retention_days)
        self.provider = cr.Provider(
            self, "Provider", on_event_handler=on_event, is_complete_handler=is_complete,
            query_interval=QUERY_INTERVAL, total_timeout=TOTAL_TIMEOUT, log_group=log_group,
            framework_on_event_role=framework_roles[0], framework_complete_and_timeout_role=framework_roles[1],
            provider_function_env_encryption=key,
            disable_waiter_state_machine_logging=False,
            # every state transition, without the execution data (the CloudFormation request and its response URL)
            waiter_state_machine_log_options=cr.LogOptions(destination=waiter_logs, level=stepfunctions.LogLevel.ALL,
                                                           include_execution_data=False))
        self.framework_functions = inline_framework_code(self.provider)
        self.resource = CustomResource(
            self, "Resource", service_token=self.provider.service_token, resource_type="Custom::FirstImage",
            # CloudFormation itself stops waiting here, whatever the waiter does
            service_timeout=CLOUDFORMATION_LIMIT,
            properties={"PipelineName": pipeline.pipeline_name, "FipsImage": fips_image})
        self.total_timeout = TOTAL_TIMEOUT

        NagSuppressions.add_resource_suppressions(handler_role, [
            {"id": "NIST.800.53.R5-IAMNoInlinePolicy", "reason": ROLE_POLICY_REASON},
        ], apply_to_children=True)
        for role in framework_roles:
            NagSuppressions.add_resource_suppressions(role, [
                {"id": "NIST.800.53.R5-IAMNoInlinePolicy", "reason": ROLE_POLICY_REASON},
                wildcards("CDK's invoke grant names the two handler functions above with ':*' (their versions and "
                          "aliases) and nothing else",
                          [arn_wildcard(on_event, ":*"), arn_wildcard(is_complete, ":*")]),
            ], apply_to_children=True)
        for function in (on_event, is_complete, *(self.provider.node.find_child(f"framework-{name}")
                                                  for name in ("onEvent", "isComplete", "onTimeout"))):
            NagSuppressions.add_resource_suppressions(function, LAMBDA_NAG)
        waiter = self.provider.node.find_child("waiter-state-machine")
        waiter_functions = [self.provider.node.find_child(f"framework-{name}") for name in ("isComplete", "onTimeout")]
        NagSuppressions.add_resource_suppressions(waiter, [
            {"id": "AwsSolutions-SF2", "reason": "a two-state waiter that polls one Lambda; its calls are in the "
                                                 "framework's log group and the state machine's own log, so X-Ray "
                                                 "tracing would add cost and a role grant and show nothing new"},
            {"id": "NIST.800.53.R5-IAMNoInlinePolicy", "reason": ROLE_POLICY_REASON},
            wildcards("the framework's grants: ':*' on exactly its two functions (versions and aliases), and the "
                      "CloudWatch Logs delivery actions for the state machine's log, which support only '*'",
                      [ANY_RESOURCE, *(arn_wildcard(function, ":*") for function in waiter_functions)]),
        ], apply_to_children=True)
