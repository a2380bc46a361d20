"""The ECR repository the proxy image lives in: scanned on push, KMS-encrypted, images expired by age.

The image pipeline builds into it and tags `latest`; the proxy service runs `latest`.
"""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from duomfa.infra.escape_hatch import cfn_resource

IMAGE_TAG = "latest"


class ImageRepository(Construct):
    """Exposes `repository`, `image_tag` and `allow_lambda_pulls()` for the control plane's image functions."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, retention_days: float) -> None:
        super().__init__(scope, construct_id)
        self.repository = ecr.Repository(
            self, "Repository", image_scan_on_push=True, encryption=ecr.RepositoryEncryption.KMS,
            encryption_key=key, image_tag_mutability=ecr.TagMutability.MUTABLE,  # `latest` moves weekly
            removal_policy=RemovalPolicy.RETAIN)
        # ECR never expires an image with a rule of lower priority than one that selected it: rule 1 selects the
        # newest `latest` image (keeping it, even if the pipeline has failed for longer than the retention), rule 2
        # expires every other image, tagged or not, once it is older than the retention.
        policy = {"rules": [
            {"rulePriority": 1, "description": "keep the image the service runs",
             "selection": {"tagStatus": "tagged", "tagPatternList": [IMAGE_TAG], "countType": "imageCountMoreThan",
                           "countNumber": 1},
             "action": {"type": "expire"}},
            {"rulePriority": 2, "description": "expire images older than ImageRetentionDays",
             "selection": {"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days",
                           "countNumber": retention_days},
             "action": {"type": "expire"}},
        ]}
        cfn_resource(self.repository).add_property_override(
            "LifecyclePolicy.LifecyclePolicyText", Stack.of(self).to_json_string(policy))
        self.image_tag = IMAGE_TAG

    def allow_lambda_pulls(self) -> None:
        """Lambda pulls the image with its service principal, for functions of this account only."""
        self.repository.add_to_resource_policy(iam.PolicyStatement(
            sid="LambdaPullsControlPlaneImage", principals=[iam.ServicePrincipal("lambda.amazonaws.com")],
            actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            conditions={"StringLike": {"aws:sourceArn":
                                       f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{Aws.ACCOUNT_ID}:function:*"}}))
