"""The control plane's wiring: the rotation, address-tracker and directory-updater Lambdas (run from the proxy's image),
the triggers that run them, RADIUS off when the stack is deleted, and the alarms on all of it, composed from one
construct per function (docs/design.md, "The control plane's wiring")."""

from __future__ import annotations

from aws_cdk import Aws, CfnCondition, CustomResource, Fn
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from duomfa.infra.address_tracker import AddressTracker
from duomfa.infra.control_plane_alarms import ControlPlaneAlarms
from duomfa.infra.directory_updater import DirectoryUpdater
from duomfa.infra.disable_radius import DisableRadius
from duomfa.infra.function_images import FUNCTION_IMAGES_SOURCE, FunctionImages
from duomfa.infra.image_function import HANDLERS, LAMBDA_ENTRYPOINT, ImageFunctions
from duomfa.infra.image_pipeline import ImagePipeline
from duomfa.infra.image_repository import ImageRepository
from duomfa.infra.load_balancer import RadiusLoadBalancer
from duomfa.infra.monitoring import stack_namespace
from duomfa.infra.proxy_service import ProxyService
from duomfa.infra.secret_rotation import SecretRotation

# and, as the tests of the image and the templates import them from here: what the image runs, and the refresher
__all__ = ["FUNCTION_IMAGES_SOURCE", "HANDLERS", "LAMBDA_ENTRYPOINT", "ControlPlane"]

PARAMETER_SEED = "none"  # neither the tracker's nor the updater's format: the updater never applies it


class ControlPlane(Construct):
    """Exposes its parts (`updater`, `disable_radius`, `rotation`, `tracker`, `function_images`, `notices`), and
    `address_parameter`, `state_parameter`, `dead_letters`, `alarms` by name, `secret_value_roles` (the roles
    that read or write the secret's value), `functions` by what they do and `rotation_log_groups` (the logs of the
    rotation, the updater and the tracker)."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, secret: secretsmanager.ISecret,
                 image: ImageRepository, first_image: CustomResource, pipeline: ImagePipeline, proxies: ProxyService,
                 topic: sns.ITopic, directory_id: str, address_parameter_name: str, state_parameter_name: str,
                 load_balancer: RadiusLoadBalancer, load_balancer_on: CfnCondition,
                 load_balancer_addresses_in_use: CfnCondition, probe_source_cidrs: str, radius_port: str,
                 radius_timeout: str, radius_retries: str, rotation_schedule: str, log_retention_days: float,
                 directory_mfa: str = "Enabled", directory_security_group_id: str = "") -> None:
        super().__init__(scope, construct_id)
        self.metrics_namespace = stack_namespace()

        # what the functions pass on to each other: the proxies' addresses (the tracker writes them, the updater reads
        # them), and what the updater last applied (the rotation reads it)
        self.address_parameter = ssm.CfnParameter(
            self, "AddressParameter", name=address_parameter_name, type="String", value=PARAMETER_SEED,
            description="Duo MFA: the proxies' addresses, port and secret version (written by the address tracker)")
        self.state_parameter = ssm.CfnParameter(
            self, "StateParameter", name=state_parameter_name, type="String", value=PARAMETER_SEED,
            description="Duo MFA: what the directory updater last applied to the directory (never the secret)")

        shared = ImageFunctions(self, "ImageFunctions", key=key, image=image, first_image=first_image,
                                log_retention_days=log_retention_days)
        self.dead_letters = shared.dead_letters
        self.updater = DirectoryUpdater(
            self, "DirectoryUpdater", shared=shared, secret=secret, topic=topic, directory_id=directory_id,
            address_parameter_name=address_parameter_name, state_parameter_name=state_parameter_name,
            radius_port=radius_port, radius_timeout=radius_timeout, radius_retries=radius_retries,
            directory_mfa=directory_mfa, metrics_namespace=self.metrics_namespace,
            # with the load balancer on, the directory gets its fixed addresses, or else its DNS name
            load_balancer_addresses=Fn.condition_if(
                load_balancer_on.logical_id,
                Fn.condition_if(load_balancer_addresses_in_use.logical_id,
                                Fn.join(",", list(load_balancer.addresses)), load_balancer.dns_name),
                Aws.NO_VALUE).to_string())
        self.disable_radius = DisableRadius(self, "DisableRadius", shared=shared, directory_id=directory_id,
                                            service=proxies.service)
        self.updater.deleted_before(self.disable_radius.resource)
        self.rotation = SecretRotation(
            self, "SecretRotation", shared=shared, secret=secret, proxies=proxies,
            updater=self.updater.function.function, state_parameter_name=state_parameter_name,
            radius_port=radius_port, probe_source_cidrs=probe_source_cidrs, schedule=rotation_schedule,
            metrics_namespace=self.metrics_namespace, directory_security_group_id=directory_security_group_id)
        self.tracker = AddressTracker(self, "AddressTracker", shared=shared, secret=secret, proxies=proxies,
                                      address_parameter_name=address_parameter_name, radius_port=radius_port)
        # a completed deployment runs both: the tracker records the final tasks, the updater hands them over
        self.deployment_completed = events.Rule(
            self, "DeploymentCompleted", description="Duo MFA: a deployment of the proxies completed",
            event_pattern=events.EventPattern(source=["aws.ecs"], resources=[proxies.service.service_arn],
                                              detail_type=["ECS Deployment State Change"],
                                              detail={"eventName": ["SERVICE_DEPLOYMENT_COMPLETED"]}),
            targets=[self.tracker.function.event_target(), self.updater.function.event_target()])

        # after every image function: it keeps them all on an image that exists
        self.function_images = FunctionImages(self, "FunctionImages", shared=shared, image=image)
        pipeline.also_run_after_each_new_image(self.function_images.event_target())

        self.notices = ControlPlaneAlarms(
            self, "Alarms", topic=topic, secret=secret, rotation=self.rotation.function.function,
            tracker=self.tracker.function.function, updater=self.updater.function.function,
            refresher=self.function_images.function, radius_in_sync=self.updater.metric_radius_in_sync(),
            dead_letters=shared.dead_letters)
        self.alarms = self.notices.alarms

        # the tracker only describes the secret: its value is read and written by these (ProxySecret's resource policy)
        self.secret_value_roles: list[iam.IRole] = [self.rotation.function.role, self.updater.function.role]
        # for the dashboard and the saved queries: the functions by what they do, and the logs of a rotation's steps
        self.functions: dict[str, lambda_.IFunction] = {
            "rotation": self.rotation.function.function, "address tracker": self.tracker.function.function,
            "directory updater": self.updater.function.function, "function images": self.function_images.function}
        self.rotation_log_groups: list[logs.ILogGroup] = [
            self.rotation.function.log_group, self.updater.function.log_group, self.tracker.function.log_group]
