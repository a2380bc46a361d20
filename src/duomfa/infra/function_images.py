"""Keeping the image functions on an image that exists: Lambda pins an image's digest when a function's code is set,
and the repository expires old images, so after each successful build a small inline function sets their code to the
stack's tag again (docs/design.md, "The control plane's wiring")."""

from __future__ import annotations

from aws_cdk import Duration, Fn
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from cdk_nag import NagSuppressions
from constructs import Construct

from duomfa.infra.image_function import ImageFunctions, lambda_role
from duomfa.infra.image_repository import ImageRepository
from duomfa.infra.inline_function import CONTROL_SOURCES, LAMBDA_RUNTIME, inline_source
from duomfa.infra.logical_ids import leave_out_of_logical_ids
from duomfa.infra.nag import suppress_role_policy

FUNCTION_IMAGES_SOURCE = CONTROL_SOURCES / "function_images.py"


class FunctionImages(Construct):
    """The refresher (duomfa.control.function_images) of every function in `shared.functions`, so create it after
    them; exposes `function` and `event_target()` (the image pipeline's successful runs invoke it: ControlPlane)."""

    def __init__(self, scope: Construct, construct_id: str, *, shared: ImageFunctions, image: ImageRepository) -> None:
        super().__init__(scope, construct_id)
        leave_out_of_logical_ids(self)  # its resources keep the logical IDs they had as ControlPlane's own
        self._shared = shared
        functions = list(shared.functions.values())
        role = lambda_role(self, "FunctionImagesRole", "Duo MFA: moves the control-plane Lambdas to the newest image")
        role.add_to_policy(iam.PolicyStatement(actions=["lambda:UpdateFunctionCode"],
                                               resources=[function.function_arn for function in functions]))
        # Lambda reads the image with the caller's access, and keeps the functions' environment encrypted with the key
        role.add_to_policy(iam.PolicyStatement(actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                                               resources=[image.repository.repository_arn]))
        role.add_to_policy(shared.key_through("lambda", ["kms:Decrypt", "kms:CreateGrant"]))
        log_group = shared.log_group(self, "FunctionImagesLogs")
        log_group.grant_write(role)
        shared.allow_environment(role, asynchronous=True)
        self.function = lambda_.Function(
            self, "FunctionImages", runtime=LAMBDA_RUNTIME, handler="index.handler",
            code=lambda_.Code.from_inline(inline_source(FUNCTION_IMAGES_SOURCE)),
            timeout=Duration.minutes(5), memory_size=128, role=role, log_group=log_group,
            environment={"FUNCTIONS": Fn.join(",", [function.function_name for function in functions]),
                         "IMAGE_URI": image.repository.repository_uri_for_tag(image.image_tag)},
            environment_encryption=shared.key, dead_letter_queue=shared.dead_letters,
            description="Duo MFA: moves the control-plane Lambdas to the image the pipeline just built")
        suppress_role_policy(role)
        NagSuppressions.add_resource_suppressions(self.function, [
            {"id": "NIST.800.53.R5-LambdaInsideVPC", "reason": "it only calls the Lambda API"},
            {"id": "NIST.800.53.R5-LambdaConcurrency", "reason": "runs once a week; reserving concurrency fails in "
                                                                 "accounts with the minimum quota"},
        ])

    def event_target(self) -> targets.LambdaFunction:
        return self._shared.event_target(self.function)
