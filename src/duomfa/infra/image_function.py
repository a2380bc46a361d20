"""The control plane's Lambda functions that run from the proxy's image in the stack's ECR repository: what they
share (ImageFunctions) and one of them (ImageFunction) (docs/design.md, "The control plane's wiring")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Aws, CustomResource, Duration, RemovalPolicy
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagSuppressions
from constructs import Construct

from duomfa.infra.escape_hatch import cfn_resource
from duomfa.infra.image_repository import ImageRepository
from duomfa.infra.logical_ids import leave_out_of_logical_ids
from duomfa.infra.nag import suppress_role_policy

# What each image function runs: `python -m awslambdaric MODULE.FUNCTION` (infra names control code by path only;
# tests/integration/test_lambda_handlers.py checks that each resolves in the installed package).
LAMBDA_ENTRYPOINT = ["python", "-m", "awslambdaric"]
HANDLERS = {
    "rotation": "duomfa.control.rotation.handler",
    "addresses": "duomfa.control.addresses.handler",
    "directory": "duomfa.control.directory.handler",
    "disable_radius": "duomfa.control.directory.custom_resource_handler",
}
DEAD_LETTER_RETENTION = Duration.days(14)


class ImageFunctions(Construct):
    """What the control plane's functions share: the proxy's image (pulled by Lambda, only once the first image
    exists), the key, the log retention and the dead-letter queue of failed invocations and events. Exposes
    `functions` (every ImageFunction's function by handler, for the refresher) and `dead_letters`."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, image: ImageRepository,
                 first_image: CustomResource, log_retention_days: float) -> None:
        super().__init__(scope, construct_id)
        leave_out_of_logical_ids(self)  # its resources keep the logical IDs they had as ControlPlane's own
        self.key = key
        self.log_retention_days = log_retention_days
        self.first_image = first_image
        self.image_tag = image.image_tag
        image.allow_lambda_pulls()
        # CDK's own grant for DockerImageCode names the Lambda principal without a condition, so the code is built
        # from an imported reference
        self.repository = ecr.Repository.from_repository_attributes(
            self, "ImageRepository", repository_arn=image.repository.repository_arn,
            repository_name=image.repository.repository_name)
        self.functions: dict[str, lambda_.IFunction] = {}

        self.dead_letters = sqs.Queue(
            self, "DeadLetters", encryption=sqs.QueueEncryption.KMS, encryption_master_key=key, enforce_ssl=True,
            retention_period=DEAD_LETTER_RETENTION)
        NagSuppressions.add_resource_suppressions(self.dead_letters, [
            {"id": "AwsSolutions-SQS3", "reason": "this queue is the dead-letter queue (of the control-plane "
                                                  "Lambdas' asynchronous invocations and their EventBridge targets)"},
        ])

    def event_target(self, function: lambda_.IFunction) -> targets.LambdaFunction:
        """`function` as an EventBridge rule's target: retried, then kept in the dead-letter queue."""
        return targets.LambdaFunction(function, dead_letter_queue=self.dead_letters, retry_attempts=2,
                                      max_event_age=Duration.hours(1))

    def log_group(self, scope: Construct, construct_id: str) -> logs.LogGroup:
        """A log group encrypted with the key, kept as long as the LogRetentionDays parameter says."""
        log_group = logs.LogGroup(scope, construct_id, encryption_key=self.key,
                                  retention=logs.RetentionDays.ONE_YEAR, removal_policy=RemovalPolicy.DESTROY)
        # retention follows the LogRetentionDays parameter; RetentionDays above only satisfies the L2's typing
        cfn_resource(log_group).add_property_override("RetentionInDays", self.log_retention_days)
        return log_group

    def allow_environment(self, role: iam.IRole, *, asynchronous: bool) -> None:
        """The key for a function's encrypted environment, and for the encrypted dead-letter queue."""
        role.add_to_principal_policy(self.key_through("lambda", ["kms:Decrypt"]))
        if asynchronous:
            role.add_to_principal_policy(self.key_through("sqs", ["kms:Decrypt", "kms:GenerateDataKey"]))

    def key_through(self, service: str, actions: Sequence[str]) -> iam.PolicyStatement:
        """The key, only through one service (Secrets Manager for the secret, SNS for the topic, ...)."""
        return iam.PolicyStatement(
            actions=list(actions), resources=[self.key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"{service}.{Aws.REGION}.amazonaws.com"}})


def directory_arn(directory_id: str) -> str:
    return f"arn:{Aws.PARTITION}:ds:{Aws.REGION}:{Aws.ACCOUNT_ID}:directory/{directory_id}"


def parameter_arn(name: str) -> str:
    """The ARN of an SSM parameter whose name starts with "/" (a hierarchy), as ssm:GetParameter authorises it."""
    return f"arn:{Aws.PARTITION}:ssm:{Aws.REGION}:{Aws.ACCOUNT_ID}:parameter{name}"


def lambda_role(scope: Construct, construct_id: str, description: str) -> iam.Role:
    """A role Lambda assumes; the caller adds what the function does (ImageFunctions.allow_environment: what Lambda
    needs for its environment)."""
    return iam.Role(scope, construct_id, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                    description=description)


class ImageFunction(Construct):
    """A function running HANDLERS[handler] from the proxy's image, created only once the image exists: its own role
    (`permissions` first, then its log group and key), encrypted log group and environment; `asynchronous`: failed
    invocations go to the dead-letter queue. Its resources are named after it, as its parent's: NAME, NAMERole (or
    `role_id`), NAMELogs. Exposes `function`, `role`, `log_group` and `event_target()`."""

    def __init__(self, scope: Construct, name: str, *, shared: ImageFunctions, handler: str, description: str,
                 role_description: str, permissions: Sequence[iam.PolicyStatement], environment: dict[str, str],
                 timeout: Duration, asynchronous: bool = False, role_id: str | None = None, **options: Any) -> None:
        super().__init__(scope, name)
        leave_out_of_logical_ids(self)  # its resources are its parent's, named after it
        self._shared = shared
        self.role = lambda_role(self, role_id or f"{name}Role", role_description)
        for statement in permissions:
            self.role.add_to_policy(statement)
        self.log_group = log_group = shared.log_group(self, f"{name}Logs")
        log_group.grant_write(self.role)
        shared.allow_environment(self.role, asynchronous=asynchronous)
        code = lambda_.DockerImageCode.from_ecr(shared.repository, tag_or_digest=shared.image_tag,
                                                entrypoint=LAMBDA_ENTRYPOINT, cmd=[HANDLERS[handler]])
        self.function = lambda_.DockerImageFunction(
            self, name, code=code, role=self.role, environment=environment, environment_encryption=shared.key,
            timeout=timeout, memory_size=256, architecture=lambda_.Architecture.X86_64, log_group=log_group,
            dead_letter_queue=shared.dead_letters if asynchronous else None, description=description, **options)
        self.function.node.add_dependency(shared.first_image)
        suppress_role_policy(self.role)
        shared.functions[handler] = self.function  # the refresher moves it to each new image

    def event_target(self) -> targets.LambdaFunction:
        return self._shared.event_target(self.function)
