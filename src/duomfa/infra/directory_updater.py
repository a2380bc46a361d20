"""The directory updater: converges the directory's RADIUS settings on the proxies' addresses and the current secret,
on every change of the address parameter and every 5 minutes (docs/design.md, "The directory updater")."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from cdk_nag import NagSuppressions
from constructs import Construct, IConstruct

from duomfa import emf
from duomfa.infra.image_function import ImageFunction, ImageFunctions, directory_arn, parameter_arn
from duomfa.infra.logical_ids import leave_out_of_logical_ids
from duomfa.infra.nag import ANY_RESOURCE, OVERLAP_SAFE_FUNCTION_REASONS, wildcards

UPDATER_DEADLINE = Duration.minutes(14)  # polling DescribeDirectories; the handler allows at most 840 s
RETIRE_GRACE = Duration.minutes(15)  # the previous secret stays valid this long after the directory has the new one
UPDATER_SCHEDULE = Duration.minutes(5)
SECRET_SETTLE = Duration.minutes(3)  # a Completed counts for a secret change only this long after UpdateRadius


class DirectoryUpdater(Construct):
    """The updater function and what runs it: a change of the address parameter, and a 5-minute schedule (the
    rotation's finishSecret invokes it too, and a completed deployment of the proxies: ControlPlane). Exposes
    `function` (an ImageFunction), `metric_radius_in_sync()` and `deleted_before(resource)`."""

    def __init__(self, scope: Construct, construct_id: str, *, shared: ImageFunctions, secret: secretsmanager.ISecret,
                 topic: sns.ITopic, directory_id: str, address_parameter_name: str, state_parameter_name: str,
                 radius_port: str, radius_timeout: str, radius_retries: str, directory_mfa: str,
                 load_balancer_addresses: str, metrics_namespace: str) -> None:
        """`load_balancer_addresses`: what the directory is given while the load balancer is on (else no value)."""
        super().__init__(scope, construct_id)
        leave_out_of_logical_ids(self)  # its resources keep the logical IDs they had as ControlPlane's own
        self._directory_id = directory_id
        self._metrics_namespace = metrics_namespace
        self.function = ImageFunction(
            self, "Updater", shared=shared, handler="directory",
            role_description="Duo MFA directory updater: sets the directory's RADIUS settings",
            description="Duo MFA: converges the directory's RADIUS settings on the proxies and the current secret",
            permissions=[
                iam.PolicyStatement(actions=["ds:DescribeDirectories"], resources=["*"]),
                # DisableRadius: the DirectoryMfa switch (Disabled takes MFA off and keeps it off)
                iam.PolicyStatement(actions=["ds:EnableRadius", "ds:UpdateRadius", "ds:DisableRadius"],
                                    resources=[directory_arn(directory_id)]),
                iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[
                    parameter_arn(address_parameter_name), parameter_arn(state_parameter_name)]),
                iam.PolicyStatement(actions=["ssm:PutParameter"], resources=[parameter_arn(state_parameter_name)]),
                # reads the current secret; tags the previous one for retirement; writes the directory's domain
                # controllers into the secret's radius_clients (a new AWSCURRENT version with the same shared
                # secret, outside rotations)
                iam.PolicyStatement(
                    actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret",
                             "secretsmanager:TagResource", "secretsmanager:PutSecretValue",
                             "secretsmanager:UpdateSecretVersionStage"],
                    resources=[secret.secret_arn]),
                iam.PolicyStatement(actions=["sns:Publish"], resources=[topic.topic_arn]),
                shared.key_through("secretsmanager", ["kms:Decrypt", "kms:GenerateDataKey"]),
                shared.key_through("sns", ["kms:Decrypt", "kms:GenerateDataKey"]),  # the encrypted topic
            ],
            environment={
                "DIRECTORY_ID": directory_id, "SECRET_ARN": secret.secret_arn,
                "ADDRESS_PARAMETER": address_parameter_name, "STATE_PARAMETER": state_parameter_name,
                "TOPIC_ARN": topic.topic_arn, "RADIUS_PORT": radius_port, "RADIUS_TIMEOUT": radius_timeout,
                "RADIUS_RETRIES": radius_retries, "RETIRE_GRACE_SECONDS": str(int(RETIRE_GRACE.to_seconds())),
                "DEADLINE_SECONDS": str(int(UPDATER_DEADLINE.to_seconds())),
                "DIRECTORY_MFA": directory_mfa, "SECRET_SETTLE_SECONDS": str(int(SECRET_SETTLE.to_seconds())),
                "METRICS_NAMESPACE": metrics_namespace, "NLB_ADDRESSES": load_balancer_addresses,
            },
            timeout=Duration.minutes(15),
            # no reserved concurrency (it fails a first create in accounts with the minimum quota): overlapping runs
            # each converge on the latest desired settings (docs/design.md, "The directory updater")
            # the schedule runs it again within 5 minutes, and each failure has already sent its SNS notice
            retry_attempts=0, asynchronous=True)
        NagSuppressions.add_resource_suppressions(self.function.function, OVERLAP_SAFE_FUNCTION_REASONS)
        NagSuppressions.add_resource_suppressions(self.function.role, [
            wildcards("ds:DescribeDirectories has no resource-level permissions; the RADIUS changes name the one "
                      "directory",
                      [ANY_RESOURCE]),
        ], apply_to_children=True)

        self.rules = {
            "addresses_changed": events.Rule(
                self, "AddressesChanged", description="Duo MFA: the address tracker wrote new proxy addresses",
                event_pattern=events.EventPattern(source=["aws.ssm"], detail_type=["Parameter Store Change"],
                                                  detail={"name": [address_parameter_name],
                                                          "operation": ["Create", "Update"]}),
                targets=[self.function.event_target()]),
            "reconcile": events.Rule(
                self, "Reconcile", description="Duo MFA: run the directory updater even when no event came",
                schedule=events.Schedule.rate(UPDATER_SCHEDULE), targets=[self.function.event_target()]),
        }

    def deleted_before(self, resource: IConstruct) -> None:
        """The updater, and with it every trigger that names it, is deleted before `resource` (the DisableRadius
        custom resource): nothing turns RADIUS on again once it is off."""
        self.function.function.node.add_dependency(resource)

    def metric_radius_in_sync(self) -> cloudwatch.Metric:
        """What the updater publishes each run: 1 while the directory is Completed as desired, or paused by
        DirectoryMfa; 0 otherwise."""
        return cloudwatch.Metric(namespace=self._metrics_namespace, metric_name=emf.RADIUS_IN_SYNC,
                                 dimensions_map={emf.DIRECTORY_ID: self._directory_id}, statistic="Maximum",
                                 period=UPDATER_SCHEDULE)
