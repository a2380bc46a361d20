"""RADIUS off before the proxies go: a custom resource whose deletion turns RADIUS off on the directory, deleted
before the proxies' service (docs/design.md, "The control plane's wiring")."""

from __future__ import annotations

from aws_cdk import CustomResource, Duration
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import custom_resources as cr
from cdk_nag import NagSuppressions
from constructs import Construct

from duomfa.infra.image_function import ImageFunction, ImageFunctions, directory_arn, lambda_role
from duomfa.infra.inline_provider import inline_framework_code
from duomfa.infra.logical_ids import leave_out_of_logical_ids
from duomfa.infra.nag import (
    ANY_RESOURCE,
    arn_wildcard,
    custom_resource_function_reasons,
    suppress_role_policy,
    wildcards,
)


class DisableRadius(Construct):
    """The handler function and the custom resource (on the provider framework, inline: no asset); exposes
    `function` (an ImageFunction) and `resource`, which depends on the service."""

    def __init__(self, scope: Construct, construct_id: str, *, shared: ImageFunctions, directory_id: str,
                 service: ecs.FargateService) -> None:
        super().__init__(scope, construct_id)
        leave_out_of_logical_ids(self)  # its resources keep the logical IDs they had as ControlPlane's own
        self.function = ImageFunction(
            self, "DisableRadiusHandler", shared=shared, handler="disable_radius", role_id="DisableRadiusRole",
            role_description="Duo MFA: turns RADIUS off on the directory on stack deletion",
            description="Duo MFA: DisableRadius on the directory when the stack is deleted",
            permissions=[iam.PolicyStatement(actions=["ds:DescribeDirectories"], resources=["*"]),
                         iam.PolicyStatement(actions=["ds:DisableRadius"], resources=[directory_arn(directory_id)])],
            environment={"DIRECTORY_ID": directory_id}, timeout=Duration.minutes(2))
        handler = self.function.function
        NagSuppressions.add_resource_suppressions(handler, custom_resource_function_reasons(
            "it only calls the Directory Service API", invoked_by="the provider framework"))
        NagSuppressions.add_resource_suppressions(self.function.role, [
            wildcards("ds:DescribeDirectories has no resource-level permissions; the RADIUS changes name the one "
                      "directory",
                      [ANY_RESOURCE]),
        ], apply_to_children=True)

        log_group = shared.log_group(self, "DisableRadiusProviderLogs")
        framework_role = lambda_role(self, "DisableRadiusFrameworkRole",
                                     "Duo MFA: custom-resource provider framework (DisableRadius on delete)")
        log_group.grant_write(framework_role)
        shared.allow_environment(framework_role, asynchronous=False)
        provider = cr.Provider(self, "DisableRadiusProvider", on_event_handler=handler, log_group=log_group,
                               framework_on_event_role=framework_role, provider_function_env_encryption=shared.key)
        inline_framework_code(provider)
        suppress_role_policy(framework_role)
        NagSuppressions.add_resource_suppressions(framework_role, [
            wildcards("CDK's invoke grant names the one handler function with ':*' (its versions and aliases) and "
                      "nothing else",
                      [arn_wildcard(handler, ":*")]),
        ], apply_to_children=True)
        NagSuppressions.add_resource_suppressions(provider.node.find_child("framework-onEvent"),
                                                  custom_resource_function_reasons("it only invokes the handler "
                                                                                   "function"))
        self.resource = CustomResource(self, "DisableRadiusOnDelete", service_token=provider.service_token,
                                       resource_type="Custom::DisableRadiusOnDelete",
                                       properties={"DirectoryId": directory_id})
        # deleted before the service, so the directory never points at proxies that are gone
        self.resource.node.add_dependency(service)
