"""A new VPC over two Availability Zones: public subnets with a NAT gateway each, private subnets for the directory
and the proxies, and flow logs to a KMS-encrypted log group.

Built from CloudFormation resources rather than ec2.Vpc because every CIDR block is a parameter: ec2.Vpc computes
subnet blocks at synth time and cannot take them from the console.
"""

from __future__ import annotations

from aws_cdk import Aws, CustomResource, Duration, Fn, RemovalPolicy, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from cdk_nag import NagSuppressions
from constructs import Construct

from duomfa.infra.escape_hatch import cfn_resource
from duomfa.infra.inline_function import CONTROL_SOURCES, inline_function
from duomfa.infra.nag import ANY_RESOURCE, ROLE_POLICY_REASON, custom_resource_function_reasons, wildcards

SUBNET_CIDRS_SOURCE = CONTROL_SOURCES / "subnet_cidrs.py"


class Network(Construct):
    """The VPC, exposed as an IVpc plus the two private subnets the directory and the proxies use."""

    def __init__(self, scope: Construct, construct_id: str, *, availability_zones: list[str], vpc_cidr: str,
                 public_subnet_cidrs: tuple[str, str], private_subnet_cidrs: tuple[str, str], key: kms.IKey,
                 log_retention_days: float) -> None:
        super().__init__(scope, construct_id)
        vpc = ec2.CfnVPC(self, "Vpc", cidr_block=vpc_cidr, enable_dns_hostnames=True, enable_dns_support=True)
        Tags.of(vpc).add("Name", f"{self.node.path}")
        gateway = ec2.CfnInternetGateway(self, "InternetGateway")
        attachment = ec2.CfnVPCGatewayAttachment(self, "InternetGatewayAttachment", vpc_id=vpc.ref,
                                                 internet_gateway_id=gateway.ref)
        public_table = ec2.CfnRouteTable(self, "PublicRouteTable", vpc_id=vpc.ref)
        public_route = ec2.CfnRoute(self, "PublicDefaultRoute", route_table_id=public_table.ref,
                                    destination_cidr_block="0.0.0.0/0", gateway_id=gateway.ref)
        public_route.node.add_dependency(attachment)
        NagSuppressions.add_resource_suppressions(public_route, [
            {"id": "NIST.800.53.R5-VPCNoUnrestrictedRouteToIGW",
             "reason": "the public subnets hold only the NAT gateways, which need the internet route to carry the "
                       "proxies' HTTPS to Duo; nothing else runs there"},
        ])

        private_subnet_ids: list[str] = []
        public_subnet_ids: list[str] = []
        private_route_table_ids: list[str] = []
        for index, (zone, public_cidr, private_cidr) in enumerate(
                zip(availability_zones, public_subnet_cidrs, private_subnet_cidrs, strict=False), start=1):
            # nothing in the public subnets needs a public address of its own: the NAT gateways have Elastic IPs
            public = ec2.CfnSubnet(self, f"PublicSubnet{index}", vpc_id=vpc.ref, cidr_block=public_cidr,
                                   availability_zone=zone, map_public_ip_on_launch=False)
            Tags.of(public).add("Name", f"{self.node.path}/Public{index}")
            ec2.CfnSubnetRouteTableAssociation(self, f"PublicSubnet{index}RouteTable", subnet_id=public.ref,
                                               route_table_id=public_table.ref)
            address = ec2.CfnEIP(self, f"NatAddress{index}", domain="vpc")
            address.node.add_dependency(attachment)
            nat = ec2.CfnNatGateway(self, f"NatGateway{index}", subnet_id=public.ref,
                                    allocation_id=address.attr_allocation_id)
            private = ec2.CfnSubnet(self, f"PrivateSubnet{index}", vpc_id=vpc.ref, cidr_block=private_cidr,
                                    availability_zone=zone, map_public_ip_on_launch=False)
            Tags.of(private).add("Name", f"{self.node.path}/Private{index}")
            private_table = ec2.CfnRouteTable(self, f"PrivateRouteTable{index}", vpc_id=vpc.ref)
            ec2.CfnRoute(self, f"PrivateDefaultRoute{index}", route_table_id=private_table.ref,
                         destination_cidr_block="0.0.0.0/0", nat_gateway_id=nat.ref)
            ec2.CfnSubnetRouteTableAssociation(self, f"PrivateSubnet{index}RouteTable", subnet_id=private.ref,
                                               route_table_id=private_table.ref)
            private_subnet_ids.append(private.ref)
            private_route_table_ids.append(private_table.ref)
            public_subnet_ids.append(public.ref)

        self.flow_log_group = logs.LogGroup(self, "FlowLogs", encryption_key=key,
                                            retention=logs.RetentionDays.ONE_YEAR,
                                            removal_policy=RemovalPolicy.RETAIN)
        # retention follows the LogRetentionDays parameter; RetentionDays above only satisfies the L2's typing
        cfn_resource(self.flow_log_group).add_property_override("RetentionInDays", log_retention_days)
        # only flow logs of this account may deliver with the role; the flow log's ARN is not known before the role
        # exists, hence vpc-flow-log/* (https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html)
        flow_role = iam.Role(self, "FlowLogRole", assumed_by=iam.ServicePrincipal(
            "vpc-flow-logs.amazonaws.com", conditions={
                "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                "ArnLike": {"aws:SourceArn": f"arn:{Aws.PARTITION}:ec2:{Aws.REGION}:{Aws.ACCOUNT_ID}:vpc-flow-log/*"}}))
        self.flow_log_group.grant_write(flow_role)
        NagSuppressions.add_resource_suppressions(flow_role, [
            {"id": "NIST.800.53.R5-IAMNoInlinePolicy", "reason": ROLE_POLICY_REASON}], apply_to_children=True)
        ec2.CfnFlowLog(self, "FlowLog", resource_id=vpc.ref, resource_type="VPC", traffic_type="ALL",
                       log_destination_type="cloud-watch-logs", log_group_name=self.flow_log_group.log_group_name,
                       deliver_logs_permission_arn=flow_role.role_arn)

        self.vpc_id = vpc.ref
        self.vpc_cidr = vpc.attr_cidr_block
        self.private_subnet_ids = private_subnet_ids
        self.public_subnet_ids = public_subnet_ids
        self.vpc: ec2.IVpc = ec2.Vpc.from_vpc_attributes(
            self, "Imported", vpc_id=vpc.ref, availability_zones=list(availability_zones),
            vpc_cidr_block=vpc.attr_cidr_block, private_subnet_ids=private_subnet_ids,
            private_subnet_route_table_ids=private_route_table_ids, public_subnet_ids=public_subnet_ids,
            public_subnet_route_table_ids=[public_table.ref, public_table.ref])


def select_zones(availability_zones_parameter: list[str]) -> list[str]:
    """The two zones of a List<AWS::EC2::AvailabilityZone::Name> parameter, as tokens."""
    return [Fn.select(0, availability_zones_parameter), Fn.select(1, availability_zones_parameter)]


class SubnetCidrs(Construct):
    """The CIDR blocks of subnets the stack did not create, read at deploy time (duomfa.control.subnet_cidrs):
    `cidr_blocks` is their comma-separated list, in the order given."""

    def __init__(self, scope: Construct, construct_id: str, *, subnet_ids: list[str], key: kms.IKey,
                 log_retention_days: float) -> None:
        super().__init__(scope, construct_id)
        function, role = inline_function(
            self, "Function", source=SUBNET_CIDRS_SOURCE, key=key, timeout=Duration.seconds(60),
            log_retention_days=log_retention_days,
            role_description="Duo MFA: reads the CIDR blocks of the proxies' subnets",
            description="Duo MFA: reads the CIDR blocks of the proxies' subnets")
        role.add_to_policy(iam.PolicyStatement(actions=["ec2:DescribeSubnets"], resources=["*"]))
        self.resource = CustomResource(self, "Resource", service_token=function.function_arn,
                                       resource_type="Custom::SubnetCidrs",
                                       properties={"SubnetIds": Fn.join(",", subnet_ids)})
        self.cidr_blocks = self.resource.get_att_string("CidrBlocks")
        NagSuppressions.add_resource_suppressions(role, [
            wildcards("ec2:DescribeSubnets has no resource-level permissions", [ANY_RESOURCE]),
            {"id": "NIST.800.53.R5-IAMNoInlinePolicy", "reason": ROLE_POLICY_REASON},
        ], apply_to_children=True)
        NagSuppressions.add_resource_suppressions(function, custom_resource_function_reasons(
            "it only calls the EC2 API"))
