"""The directory the proxies serve: a new AWS Managed Microsoft AD, or an existing directory whose VPC, subnets,
security group and domain-controller addresses are read at deploy time (or given as parameters).

Both expose the same `DirectoryEndpoint`, so nothing downstream knows which kind it got.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import CfnCondition, CfnResource, CustomResource, Duration, Fn
from aws_cdk import aws_directoryservice as directoryservice
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from cdk_nag import NagSuppressions
from constructs import Construct

from duomfa.infra.inline_function import CONTROL_SOURCES, inline_function
from duomfa.infra.nag import ANY_RESOURCE, ROLE_POLICY_REASON, custom_resource_function_reasons, wildcards

# The handler's source is embedded in the template (no asset bucket needed, so the synthesized template deploys
# from the console too); infra refers to control code by path, never by import.
LOOKUP_HANDLER_SOURCE = CONTROL_SOURCES / "directory_lookup.py"


@dataclass(frozen=True)
class DirectoryEndpoint:
    """What the proxies and the control plane need to know about the directory (CloudFormation tokens)."""

    directory_id: str
    vpc_id: str
    subnet_ids: tuple[str, str]  # where the proxies run: the directory's own two subnets
    security_group_id: str  # the directory's security group: the RADIUS clients' source
    domain_controller_addresses: str  # comma-separated: the RADIUS clients' addresses


class DirectoryLookup(Construct):
    """Custom resource reading the directory with ds:DescribeDirectories (handler: duomfa.control.directory_lookup)."""

    ATTRIBUTES = ("VpcId", "SubnetIds", "SubnetId1", "SubnetId2", "SecurityGroupId", "DomainControllerAddresses",
                  "DirectoryType")

    def __init__(self, scope: Construct, construct_id: str, *, directory_id: str, key: kms.IKey,
                 expected_type: str = "", condition: CfnCondition | None = None) -> None:
        super().__init__(scope, construct_id)
        function, role = inline_function(
            self, "Function", source=LOOKUP_HANDLER_SOURCE, key=key, timeout=Duration.seconds(60),
            role_description="Reads the directory's network settings for the Duo MFA stack",
            description="Duo MFA: reads VPC, subnets, security group and DC addresses of a directory")
        role.add_to_policy(iam.PolicyStatement(actions=["ds:DescribeDirectories"], resources=["*"]))
        self.resource = CustomResource(self, "Resource", service_token=function.function_arn,
                                       resource_type="Custom::DirectoryLookup",
                                       properties={"DirectoryId": directory_id, "DirectoryType": expected_type})
        if condition is not None:
            for child in self.node.find_all():
                if isinstance(child, CfnResource):
                    child.cfn_options.condition = condition
        NagSuppressions.add_resource_suppressions(role, [
            wildcards("ds:DescribeDirectories supports no resource-level permissions; it must be granted on *",
                      [ANY_RESOURCE]),
            {"id": "NIST.800.53.R5-IAMNoInlinePolicy", "reason": ROLE_POLICY_REASON},
        ], apply_to_children=True)
        NagSuppressions.add_resource_suppressions(function, custom_resource_function_reasons(
            "it looks up which VPC to use, so it cannot run inside it; it only calls the Directory Service API"))

    def attribute(self, name: str) -> str:
        assert name in self.ATTRIBUTES, name
        return self.resource.get_att_string(name)


class ManagedDirectory(Construct):
    """A new AWS Managed Microsoft AD in the given private subnets."""

    def __init__(self, scope: Construct, construct_id: str, *, domain_dns_name: str, netbios_name: str,
                 edition: str, admin_password: str, vpc_id: str, subnet_ids: list[str], key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.directory = directoryservice.CfnMicrosoftAD(
            self, "Directory", name=domain_dns_name, short_name=netbios_name, edition=edition,
            password=admin_password,
            vpc_settings=directoryservice.CfnMicrosoftAD.VpcSettingsProperty(vpc_id=vpc_id, subnet_ids=subnet_ids))
        # CloudFormation returns no security group for a MicrosoftAD, and the proxies' rules need it
        lookup = DirectoryLookup(self, "Lookup", directory_id=self.directory.ref, key=key, expected_type="MicrosoftAD")
        self.endpoint = DirectoryEndpoint(
            directory_id=self.directory.ref, vpc_id=vpc_id, subnet_ids=(subnet_ids[0], subnet_ids[1]),
            security_group_id=lookup.attribute("SecurityGroupId"),
            domain_controller_addresses=Fn.join(",", self.directory.attr_dns_ip_addresses))


class ExistingDirectory(Construct):
    """An existing directory: read with the lookup when `look_up` holds, else from the given values."""

    def __init__(self, scope: Construct, construct_id: str, *, directory_id: str, directory_type: str,
                 look_up: CfnCondition, vpc_id: str, subnet_ids: str, security_group_id: str,
                 domain_controller_addresses: str, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        lookup = DirectoryLookup(self, "Lookup", directory_id=directory_id, key=key, expected_type=directory_type,
                                 condition=look_up)

        def either(attribute: str, given: str) -> str:
            return Fn.condition_if(look_up.logical_id, lookup.attribute(attribute), given).to_string()

        subnets = Fn.split(",", either("SubnetIds", subnet_ids), 2)
        self.endpoint = DirectoryEndpoint(
            directory_id=directory_id, vpc_id=either("VpcId", vpc_id), subnet_ids=(subnets[0], subnets[1]),
            security_group_id=either("SecurityGroupId", security_group_id),
            domain_controller_addresses=either("DomainControllerAddresses", domain_controller_addresses))
