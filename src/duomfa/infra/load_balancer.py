"""Optional internal Network Load Balancer in front of the proxies: one UDP listener on the RADIUS port, fixed
private addresses per subnet, targets health-checked over HTTP on the proxy's /healthz.

With it, the directory is given the load balancer's addresses once, and replacing or scaling tasks never touches
the directory. Everything here exists only under the LoadBalancerOn condition.
"""

from __future__ import annotations

from aws_cdk import Aws, CfnCondition, CfnResource, CfnWaitConditionHandle, Duration, Fn
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from cdk_nag import NagSuppressions
from constructs import Construct

from duomfa.infra.directory import DirectoryEndpoint
from duomfa.infra.logical_ids import keep_logical_ids
from duomfa.infra.proxy_service import HTTP_PORT, ProxyService

# a draining proxy keeps its flows this long: longer than a push may wait (75 s + 5), so a pending push's reply still
# reaches the directory; then the flows are cut (connection termination), so a busy flow moves to a healthy proxy
DEREGISTRATION_DELAY_SECONDS = 90
# the target group's health as the load balancer sees it, by TargetGroup and LoadBalancer (their full names):
# https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-cloudwatch-metrics.html
NLB_NAMESPACE, HEALTHY_TARGETS, UNHEALTHY_TARGETS = "AWS/NetworkELB", "HealthyHostCount", "UnHealthyHostCount"
NO_LOAD_BALANCER = "none"  # the dimensions' value while LoadBalancer is No: a series that never has data


class RadiusLoadBalancer(Construct):
    """Exposes `load_balancer`, `target_group`, `listener`, `dns_name`, `addresses`, and the target group's health
    as metrics (`metric_targets`), which other resources may use whether or not the load balancer exists."""

    def __init__(self, scope: Construct, construct_id: str, *, vpc: ec2.IVpc, directory: DirectoryEndpoint,
                 proxies: ProxyService, condition: CfnCondition, addresses: tuple[str, str],
                 addresses_fixed: CfnCondition) -> None:
        super().__init__(scope, construct_id)
        self._condition = condition
        port = proxies.radius_port
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, allow_all_outbound=False,
            description="Duo MFA load balancer: RADIUS from the directory to the proxies")
        ec2.CfnSecurityGroupIngress(self, "FromDirectory", group_id=self.security_group.security_group_id,
                                    ip_protocol="udp", from_port=port, to_port=port,
                                    source_security_group_id=directory.security_group_id,
                                    description="RADIUS from the directory's domain controllers")
        for name, protocol, to_port, what in (("RadiusToProxies", "udp", port, "RADIUS to the proxies"),
                                              ("HealthToProxies", "tcp", HTTP_PORT, "health checks of the proxies")):
            ec2.CfnSecurityGroupEgress(self, name, group_id=self.security_group.security_group_id,
                                       ip_protocol=protocol, from_port=to_port, to_port=to_port,
                                       destination_security_group_id=proxies.security_group.security_group_id,
                                       description=what)
        # the proxies' rules, made here before the proxies owned them: they keep those logical IDs
        from_load_balancer = proxies.allow_radius_from(self.security_group.security_group_id,
                                                       "RADIUS through the load balancer", "FromLoadBalancer",
                                                       condition=condition)
        keep_logical_ids(from_load_balancer, parent=self, construct_id="ProxiesFromLoadBalancer")
        health_checks = proxies.allow_health_checks_from(self.security_group.security_group_id,
                                                         "load balancer health checks on /healthz",
                                                         "HealthChecksFromLoadBalancer", condition=condition)
        keep_logical_ids(health_checks, parent=self, construct_id="HealthFromLoadBalancer")
        ec2.CfnSecurityGroupEgress(self, "DirectoryToLoadBalancer", group_id=directory.security_group_id,
                                   ip_protocol="udp", from_port=port, to_port=port,
                                   destination_security_group_id=self.security_group.security_group_id,
                                   description="Duo MFA: RADIUS to the load balancer")

        self.load_balancer = elbv2.CfnLoadBalancer(
            self, "LoadBalancer", type="network", scheme="internal", ip_address_type="ipv4",
            security_groups=[self.security_group.security_group_id],
            subnet_mappings=[elbv2.CfnLoadBalancer.SubnetMappingProperty(
                subnet_id=subnet_id,
                private_i_pv4_address=Fn.condition_if(addresses_fixed.logical_id, address, Aws.NO_VALUE).to_string())
                for subnet_id, address in zip(directory.subnet_ids, addresses, strict=False)],
            load_balancer_attributes=[
                elbv2.CfnLoadBalancer.LoadBalancerAttributeProperty(key="load_balancing.cross_zone.enabled",
                                                                    value="true"),
                elbv2.CfnLoadBalancer.LoadBalancerAttributeProperty(key="deletion_protection.enabled",
                                                                    value="false"),
            ])
        self.target_group = elbv2.CfnTargetGroup(
            self, "Targets", protocol="UDP", port=port, target_type="ip", vpc_id=directory.vpc_id,
            # UDP target groups cannot be checked over UDP: the proxy's HTTP listener answers instead
            health_check_protocol="HTTP", health_check_port=str(HTTP_PORT), health_check_path="/healthz",
            health_check_interval_seconds=10, healthy_threshold_count=2, unhealthy_threshold_count=2,
            target_group_attributes=[
                elbv2.CfnTargetGroup.TargetGroupAttributeProperty(
                    key="deregistration_delay.timeout_seconds", value=str(DEREGISTRATION_DELAY_SECONDS)),
                # the default for new UDP target groups, said explicitly: without it a busy flow (one source port of
                # a domain controller) would stay on a stopped proxy
                elbv2.CfnTargetGroup.TargetGroupAttributeProperty(
                    key="deregistration_delay.connection_termination.enabled", value="true")])
        self.listener = elbv2.CfnListener(
            self, "Listener", load_balancer_arn=self.load_balancer.ref, protocol="UDP", port=port,
            default_actions=[elbv2.CfnListener.ActionProperty(type="forward",
                                                              target_group_arn=self.target_group.ref)])
        for child in self.node.find_all():
            if isinstance(child, CfnResource):
                child.cfn_options.condition = condition

        # ECS registers tasks only in a target group that already has a listener. DependsOn cannot name a resource
        # that may not exist, so the service depends on an always-present handle whose metadata refers to the
        # listener when the load balancer is on.
        gate = CfnWaitConditionHandle(self, "ListenerReady")
        gate.cfn_options.metadata = {"Listener": Fn.condition_if(condition.logical_id, self.listener.ref, "")}
        proxies.attach_target_group(self.target_group.ref, condition=condition, listener_ready=gate)
        self.dns_name = self.load_balancer.attr_dns_name
        self.addresses = addresses

        NagSuppressions.add_resource_suppressions(self.listener, [
            {"id": "NIST.800.53.R5-ELBv2ACMCertificateRequired",
             "reason": "RADIUS is UDP and Directory Service speaks plain RADIUS: no TLS certificate can apply; the "
                       "shared secret hides the password and Message-Authenticator signs the packets"},
        ])
        NagSuppressions.add_resource_suppressions(self.load_balancer, [
            {"id": "AwsSolutions-ELB2", "reason": "Network Load Balancer access logs record TLS listeners only; "
                                                  "this one is UDP"},
            {"id": "NIST.800.53.R5-ELBLoggingEnabled", "reason": "Network Load Balancer access logs record TLS "
                                                                 "listeners only; this one is UDP"},
            {"id": "NIST.800.53.R5-ELBDeletionProtectionEnabled",
             "reason": "the load balancer is optional and follows the LoadBalancer parameter: turning it off must "
                       "be able to delete it"},
        ])

    def metric_targets(self, metric_name: str, statistic: str, label: str) -> cloudwatch.Metric:
        """HEALTHY_TARGETS or UNHEALTHY_TARGETS of the proxies' target group, per minute. A resource that exists
        without the load balancer may show it: its dimensions name the load balancer only while LoadBalancerOn holds
        (Fn::If, so nothing refers to a resource that is not there) and NO_LOAD_BALANCER otherwise."""
        def while_on(value: str) -> str:
            return Fn.condition_if(self._condition.logical_id, value, NO_LOAD_BALANCER).to_string()

        return cloudwatch.Metric(
            namespace=NLB_NAMESPACE, metric_name=metric_name, statistic=statistic, period=Duration.minutes(1),
            label=label,
            dimensions_map={"TargetGroup": while_on(self.target_group.attr_target_group_full_name),
                            "LoadBalancer": while_on(self.load_balancer.attr_load_balancer_full_name)})
