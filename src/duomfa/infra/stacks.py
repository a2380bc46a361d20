"""The two stacks: a new VPC with a new AWS Managed Microsoft AD, or an existing directory in its own VPC.

Both share everything from the directory on, the control plane (rotation, address tracking, directory updates)
included; they differ in where the CIDR blocks of the proxies' subnets come from (the rotation Lambda's Status-Server
probes come from there): the new VPC's parameters, or a lookup of the existing subnets.
"""

from __future__ import annotations

from aws_cdk import Annotations, Aspects, Aws, CfnOutput, DefaultStackSynthesizer, Fn
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from duomfa.infra.control_plane import ControlPlane
from duomfa.infra.dashboard import OperationsDashboard
from duomfa.infra.directory import DirectoryEndpoint, ExistingDirectory, ManagedDirectory
from duomfa.infra.encryption import Encryption
from duomfa.infra.fips_mode import FipsEndpoints, FipsValues
from duomfa.infra.first_image import FirstImage
from duomfa.infra.image_pipeline import ImagePipeline
from duomfa.infra.image_repository import ImageRepository
from duomfa.infra.load_balancer import RadiusLoadBalancer
from duomfa.infra.logical_ids import StableLogicalIdStack
from duomfa.infra.monitoring import Monitoring, stack_namespace
from duomfa.infra.network import Network, SubnetCidrs, select_zones
from duomfa.infra.parameters import ExistingDirectoryParameters, NewVpcParameters, ProxyParameters
from duomfa.infra.proxy_service import ProxyService
from duomfa.infra.saved_queries import SavedQueries
from duomfa.infra.secrets import ProxySecret


class DuoMfaStack(StableLogicalIdStack):
    """What both variants share: parameters, key, secret, image repository, proxies, load balancer, monitoring.
    Deployed stacks keep their resources' logical IDs when constructs are added around them (logical_ids.py)."""

    def __init__(self, scope: Construct, construct_id: str, *, description: str, federal: bool = False) -> None:
        # no bootstrap-version rule: the synthesized template must deploy from the console in an account that was
        # never CDK-bootstrapped (the template has no assets)
        super().__init__(scope, construct_id, description=description,
                         synthesizer=DefaultStackSynthesizer(generate_bootstrap_version_rule=False))
        self.parameters = ProxyParameters.define(self, federal=federal)
        p = self.parameters
        self.fips = FipsValues(p.fips_mode_on)
        Aspects.of(self).add(FipsEndpoints(self.fips))  # every Lambda function, those added later too
        self.encryption = Encryption(self, "Encryption", admin_arn=p.kms_admin_arn.value_as_string,
                                     has_admin=p.has_kms_admin)
        self.secret = ProxySecret(self, "Secret", ikey=p.duo_integration_key.value_as_string,
                                  skey=p.duo_secret_key.value_as_string, api_host=p.duo_api_host.value_as_string,
                                  key=self.encryption.key, admin_principals=p.admin_principals.value_as_string,
                                  has_admin_principals=p.has_admin_principals)
        self.image = ImageRepository(self, "Image", key=self.encryption.key,
                                     retention_days=p.image_retention_days.value_as_number)
        # the control plane's SSM parameters: the proxies' addresses (address tracker), what the directory has
        # (directory updater)
        self.radius_servers_parameter_name = f"/duomfa/{Aws.STACK_NAME}/radius-servers"
        self.directory_state_parameter_name = f"/duomfa/{Aws.STACK_NAME}/directory-state"

    def _add_proxies(self, vpc: ec2.IVpc, directory: DirectoryEndpoint, extra_groups: list[dict],
                     subnet_cidrs: str) -> None:
        """Everything from the proxies on; `subnet_cidrs`: the proxies' (and the rotation Lambda's) subnets' CIDR
        blocks, comma-separated."""
        p = self.parameters
        self.directory = directory
        self.proxies = ProxyService(
            self, "Proxies", vpc=vpc, directory=directory, secret=self.secret.secret, key=self.encryption.key,
            repository=self.image.repository, image_tag=self.image.image_tag,
            radius_port=p.radius_port.value_as_string, failmode=p.failmode.value_as_string,
            proxy_count=p.proxy_count.value_as_string, max_tasks=p.max_tasks.value_as_string,
            cpu=p.task_cpu.value_as_string, memory=p.task_memory.value_as_string,
            log_retention_days=p.log_retention_days.value_as_string,
            exempt_usernames=p.exempt_usernames.value_as_string, http_proxy=p.http_proxy.value_as_string,
            max_pushes_per_user_per_minute=p.max_pushes_per_user_per_minute.value_as_string,
            has_http_proxy=p.has_http_proxy, metrics_namespace=stack_namespace(), fips_mode=self.fips.flag)
        self.load_balancer = RadiusLoadBalancer(
            self, "RadiusLoadBalancer", vpc=vpc, directory=directory, proxies=self.proxies,
            condition=p.load_balancer_on,
            addresses=(p.load_balancer_address_1.value_as_string, p.load_balancer_address_2.value_as_string),
            addresses_fixed=p.load_balancer_address_fixed)
        self.monitoring = Monitoring(self, "Monitoring", key=self.encryption.key,
                                     email=p.notification_email.value_as_string, service=self.proxies.service,
                                     log_group=self.proxies.log_group)
        self.pipeline = ImagePipeline(
            self, "ImagePipeline", key=self.encryption.key, repository=self.image.repository,
            topic=self.monitoring.topic, use_codecommit=p.image_from_codecommit,
            codecommit_repository=p.codecommit_repository.value_as_string,
            github_owner=p.github_owner.value_as_string, github_repository=p.github_repository.value_as_string,
            branch=p.github_branch.value_as_string, connection_arn=p.connection_arn.value_as_string,
            schedule=p.rebuild_schedule.value_as_string, log_retention_days=p.log_retention_days.value_as_number,
            scan_gate=p.scan_gate.value_as_string, fips_image=self.fips.yes_no, fips_endpoints=self.fips.flag)
        # an update that turns FipsMode on builds the FIPS image before the proxies are told to require it
        self.first_image = FirstImage(self, "FirstImage", pipeline=self.pipeline, key=self.encryption.key,
                                      log_retention_days=p.log_retention_days.value_as_number,
                                      fips_image=self.fips.yes_no)
        # the proxies start with an image in the repository and the Duo keys in their secret
        self.proxies.start_after(self.first_image.resource, self.secret.duo_keys)
        self.pipeline.deploy_new_images_to(self.proxies.cluster, self.proxies.service)
        self.control_plane = ControlPlane(
            self, "ControlPlane", key=self.encryption.key, secret=self.secret.secret, image=self.image,
            first_image=self.first_image.resource, pipeline=self.pipeline,
            proxies=self.proxies, topic=self.monitoring.topic, directory_id=directory.directory_id,
            address_parameter_name=self.radius_servers_parameter_name,
            state_parameter_name=self.directory_state_parameter_name, load_balancer=self.load_balancer,
            load_balancer_on=p.load_balancer_on, load_balancer_addresses_in_use=p.load_balancer_addresses_in_use,
            probe_source_cidrs=subnet_cidrs, radius_port=p.radius_port.value_as_string,
            radius_timeout=p.radius_timeout.value_as_string, radius_retries=p.radius_retries.value_as_string,
            rotation_schedule=p.rotation_schedule.value_as_string,
            log_retention_days=p.log_retention_days.value_as_number, directory_mfa=p.directory_mfa.value_as_string,
            directory_security_group_id=directory.security_group_id)
        # the secret's value for the roles that use it (and AdminPrincipals) only
        self.secret.limit_value_to([self.proxies.task_role, *self.control_plane.secret_value_roles])
        self.dashboard = OperationsDashboard(
            self, "Dashboard", namespace=self.monitoring.namespace, service=self.proxies.service,
            load_balancer=self.load_balancer, build_project=self.pipeline.project,
            functions=self.control_plane.functions, directory_id=directory.directory_id,
            alarms=[*self.monitoring.alarms.values(), *self.control_plane.alarms.values()])
        self.saved_queries = SavedQueries(self, "SavedQueries", proxy_logs=self.proxies.log_group,
                                          control_plane_logs=self.control_plane.rotation_log_groups)
        self.template_options.metadata = {"AWS::CloudFormation::Interface": {
            "ParameterGroups": extra_groups + p.interface_groups()}}
        self._outputs()

    def _outputs(self) -> None:
        outputs = {
            "ProtectedDirectoryId": (self.directory.directory_id, "the directory the proxies serve"),
            "ProxySecurityGroupId": (self.proxies.security_group.security_group_id, "security group of the proxies"),
            "ProxySubnetIds": (Fn.join(",", list(self.directory.subnet_ids)), "subnets of the proxies (and of "
                                                                              "LoadBalancerAddress1/2, in order)"),
            "RadiusClientAddresses": (self.directory.domain_controller_addresses,
                                          "RADIUS clients the proxies accept"),
            "SecretArn": (self.secret.secret.secret_arn, "Duo keys and RADIUS shared secret"),
            "KeyArn": (self.encryption.key.key_arn, "KMS key of the deployment"),
            "TopicArn": (self.monitoring.topic.topic_arn, "SNS topic of the alarms"),
            "ClusterName": (self.proxies.cluster.cluster_name, "ECS cluster"),
            "ServiceName": (self.proxies.service.service_name, "ECS service of the proxies"),
            "RepositoryUri": (self.image.repository.repository_uri, "ECR repository of the proxy image"),
            "ImagePipelineName": (self.pipeline.pipeline_name, "CodePipeline that rebuilds the proxy image"),
            "RadiusServersParameterName": (self.radius_servers_parameter_name,
                                           "SSM parameter with the proxies' addresses (address tracker)"),
            "DirectoryStateParameterName": (self.directory_state_parameter_name,
                                            "SSM parameter with what the directory updater last applied"),
            "DeadLetterQueueUrl": (self.control_plane.dead_letters.queue_url,
                                   "control-plane events that failed after their retries"),
            "DirectoryUpdaterFunctionName": (self.control_plane.functions["directory updater"].function_name,
                                             "Lambda that sets the directory's RADIUS settings (safe to invoke)"),
            "RotationFunctionName": (self.control_plane.functions["rotation"].function_name,
                                     "Lambda that rotates the RADIUS shared secret"),
            "AddressTrackerFunctionName": (self.control_plane.functions["address tracker"].function_name,
                                           "Lambda that records the proxies' addresses"),
            "DashboardName": (self.dashboard.dashboard_name, "CloudWatch dashboard of the deployment"),
        }
        for name, (value, description) in outputs.items():
            CfnOutput(self, name, value=value, description=description)
        p = self.parameters
        dns = CfnOutput(self, "LoadBalancerDnsName", value=self.load_balancer.dns_name,
                        description="internal load balancer: the directory's RADIUS server")
        dns.condition = p.load_balancer_on
        fixed = CfnOutput(self, "LoadBalancerAddresses", value=Fn.join(",", list(self.load_balancer.addresses)),
                          description="the load balancer's fixed addresses: the directory's RADIUS servers")
        fixed.condition = p.load_balancer_addresses_in_use


class NewVpcStack(DuoMfaStack):
    """A new VPC over two Availability Zones, a new AWS Managed Microsoft AD in it, and the proxies."""

    def __init__(self, scope: Construct, construct_id: str, *, federal: bool = False) -> None:
        super().__init__(scope, construct_id, federal=federal,
                         description="Duo MFA for AWS Directory Service: new VPC, AWS Managed Microsoft AD and Duo "
                                     "RADIUS proxies on ECS Fargate (duomfa)")
        v = self.vpc_parameters = NewVpcParameters.define(self)
        self.network = Network(
            self, "Network", availability_zones=select_zones(v.availability_zones.value_as_list),
            vpc_cidr=v.vpc_cidr.value_as_string,
            public_subnet_cidrs=(v.public_subnet_1_cidr.value_as_string, v.public_subnet_2_cidr.value_as_string),
            private_subnet_cidrs=(v.private_subnet_1_cidr.value_as_string, v.private_subnet_2_cidr.value_as_string),
            key=self.encryption.key, log_retention_days=self.parameters.log_retention_days.value_as_number)
        self.managed_directory = ManagedDirectory(
            self, "Directory", domain_dns_name=v.domain_dns_name.value_as_string,
            netbios_name=v.domain_netbios_name.value_as_string, edition=v.directory_edition.value_as_string,
            admin_password=v.domain_admin_password.value_as_string, vpc_id=self.network.vpc_id,
            subnet_ids=self.network.private_subnet_ids, key=self.encryption.key)
        self._add_proxies(self.network.vpc, self.managed_directory.endpoint, v.interface_groups(),
                          Fn.join(",", [v.private_subnet_1_cidr.value_as_string,
                                        v.private_subnet_2_cidr.value_as_string]))


class ExistingVpcStack(DuoMfaStack):
    """The proxies for an existing AWS Managed Microsoft AD or AD Connector, in the directory's VPC and subnets."""

    def __init__(self, scope: Construct, construct_id: str, *, federal: bool = False) -> None:
        super().__init__(scope, construct_id, federal=federal,
                         description="Duo MFA for AWS Directory Service: Duo RADIUS proxies on ECS Fargate for an "
                                     "existing directory (duomfa)")
        d = self.directory_parameters = ExistingDirectoryParameters.define(self)
        self.existing_directory = ExistingDirectory(
            self, "Directory", directory_id=d.directory_id.value_as_string,
            directory_type=d.directory_type.value_as_string, look_up=d.look_up_directory,
            vpc_id=d.vpc_id.value_as_string, subnet_ids=d.subnet_ids.value_as_string,
            security_group_id=d.security_group_id.value_as_string,
            domain_controller_addresses=d.domain_controller_addresses.value_as_string, key=self.encryption.key)
        endpoint = self.existing_directory.endpoint
        # the proxies' subnets are given explicitly; the zones here only satisfy the imported VPC's shape
        vpc = ec2.Vpc.from_vpc_attributes(self, "DirectoryVpc", vpc_id=endpoint.vpc_id,
                                          availability_zones=select_zones(Fn.get_azs()),
                                          private_subnet_ids=list(endpoint.subnet_ids))
        for subnet in vpc.private_subnets:
            Annotations.of(subnet).acknowledge_warning(
                "@aws-cdk/aws-ec2:noSubnetRouteTableId", "nothing here adds routes to the directory's subnets")
        self.subnet_cidrs = SubnetCidrs(self, "ProxySubnetCidrs", subnet_ids=list(endpoint.subnet_ids),
                                        key=self.encryption.key,
                                        log_retention_days=self.parameters.log_retention_days.value_as_number)
        self._add_proxies(vpc, endpoint, d.interface_groups(), self.subnet_cidrs.cidr_blocks)
