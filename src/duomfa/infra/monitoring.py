"""Alarms to the Duo admins: an SNS topic encrypted with the deployment's key and an e-mail subscription; alarms
on the service's CPU and memory, and on metric filters over the proxy's JSON log (fail-open, Duo faults after
preauth, missing Duo keys, dropped packets, Duo errors, secret read errors); and TopicNotice, the EventBridge target
that publishes the control plane's and the pipeline's notices to the topic.
"""

from __future__ import annotations

from dataclasses import dataclass

import jsii
from aws_cdk import Aws, Duration, Fn, Names
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct

from duomfa import emf, logline

SERVICE_PERCENT_THRESHOLD = 90  # CPU and memory, as the original: above 90% for 3 one-minute periods
SERVICE_PERIODS = 3


@dataclass(frozen=True)
class LogAlarm:
    """An alarm on a metric taken from the proxy's JSON log lines."""

    metric_name: str
    event: str  # the log line's "event" field
    value: str  # what one matching line adds: "1", or a field such as "$.dropped"
    threshold: float  # alarm when the sum over the period is at least this
    period_minutes: int
    description: str


LOG_ALARMS = (
    LogAlarm("FailOpen", logline.FAIL_OPEN, "1", 1, 1,
             "A proxy let a user in without a second factor: failmode safe, and Duo's preauth could not be reached "
             "(refused, DNS, timeout or HTTP 5xx). Check the proxies' route to Duo (NAT gateways, security group "
             "egress 443) and status.duo.com."),
    # a rejected login, never an admitted one: the alarm says Duo (or the way to it) is failing mid-login
    LogAlarm("DuoFaultAfterPreauth", logline.DUO_FAULT_AFTER_PREAUTH, "1", 1, 5,
             "Duo failed after asking for a second factor (timeout, reset, HTTP 5xx or an answer that is not Duo's); "
             "those logins were rejected, whatever the failmode. Check the proxies' route to Duo and status.duo.com."),
    # written once a minute while it lasts: every login that needs Duo is being rejected
    LogAlarm("DuoKeysMissing", logline.DUO_KEYS_MISSING, "1", 1, 5,
             "A proxy has no usable Duo keys (ikey, skey or api_host missing or malformed in the secret); every "
             "login that needs Duo is rejected. Fix the Duo parameters of the stack."),
    # more than a few retransmissions: usually a wrong shared secret or a client the proxy does not know
    LogAlarm("DroppedPackets", logline.STATS, f"$.{logline.STATS_DROPPED}", 100, 5,
             "More than 100 RADIUS packets dropped in 5 minutes. Usually the directory's shared secret or its "
             "domain-controller addresses differ from the proxies'; see the proxy log's drop reasons."),
    LogAlarm("DuoErrors", logline.DUO_ERROR, "1", 1, 5,
             "Duo refused a request (e.g. HTTP 401: the integration key, secret key or API host in the secret is "
             "wrong), or something that is not Duo answered (a wrong api_host, an intercepting web proxy); those "
             "logins were rejected."),
    # the proxy reads the secret every 30 s; three failures in five minutes is no longer a blip
    LogAlarm("SecretsSourceErrors", logline.SECRETS_SOURCE_ERROR, "1", 3, 5,
             "The proxies cannot read their secret from Secrets Manager (permissions, KMS key, or the secret's JSON)."),
)


def stack_namespace() -> str:
    """The stack's CloudWatch namespace, DuoMfa/STACK: the proxies' and the control plane's metrics (the embedded
    metric format) and the log alarms' metric filters all publish there."""
    return Fn.join("/", [emf.NAMESPACE_PREFIX, Aws.STACK_NAME])


class Monitoring(Construct):
    """Exposes `topic` (for the control plane's and the image pipeline's notices) and `alarms` by name."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, email: str,
                 service: ecs.FargateService, log_group: logs.ILogGroup) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Topic", display_name="Duo MFA alarms", master_key=key, enforce_ssl=True)
        self.topic.add_subscription(subscriptions.EmailSubscription(email))
        # enforce_ssl replaces the topic's default access policy, so the services that publish are named: CloudWatch
        # alarms of this account and region here (the original's policy allowed EventBridge only, and its alarms never
        # arrived), EventBridge one rule at a time (TopicNotice). Both keys, for CloudWatch alarms:
        # https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html ("Allow any CloudWatch alarm to
        # publish ...": aws:SourceArn ...:alarm:*) and
        # https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger
        self.topic.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudwatchAlarmsPublish", actions=["sns:Publish"],
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")], resources=[self.topic.topic_arn],
            conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                        "ArnLike": {"aws:SourceArn":
                                    f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:*"}}))
        action = cloudwatch_actions.SnsAction(self.topic)
        self.namespace = stack_namespace()
        self.alarms: dict[str, cloudwatch.Alarm] = {}

        for name, metric in (("Cpu", service.metric_cpu_utilization(period=Duration.minutes(1))),
                             ("Memory", service.metric_memory_utilization(period=Duration.minutes(1)))):
            self.alarms[name] = cloudwatch.Alarm(
                self, f"{name}High", metric=metric, threshold=SERVICE_PERCENT_THRESHOLD,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=SERVICE_PERIODS, datapoints_to_alarm=SERVICE_PERIODS,
                treat_missing_data=cloudwatch.TreatMissingData.MISSING,
                alarm_description=f"Duo MFA proxies' {name.lower()} above {SERVICE_PERCENT_THRESHOLD}% for "
                                  f"{SERVICE_PERIODS} minutes; autoscaling may be at MaxTasks.")

        for spec in LOG_ALARMS:
            metric_filter = logs.MetricFilter(
                self, f"{spec.metric_name}Filter", log_group=log_group, metric_namespace=self.namespace,
                metric_name=spec.metric_name, metric_value=spec.value,
                filter_pattern=logs.FilterPattern.string_value("$.event", "=", spec.event))
            self.alarms[spec.metric_name] = cloudwatch.Alarm(
                self, f"{spec.metric_name}Alarm",
                metric=metric_filter.metric(statistic="Sum", period=Duration.minutes(spec.period_minutes)),
                threshold=spec.threshold, evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING, alarm_description=spec.description)

        for alarm in self.alarms.values():
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)


@jsii.implements(events.IRuleTarget)
class TopicNotice:
    """An EventBridge rule's target that publishes `message` to the admins' topic, allowed by a topic-policy statement
    for that one rule. In place of events_targets.SnsTopic, which also grants EventBridge the topic and the topic's key
    without any condition; the key's statement for EventBridge is the Encryption construct's."""

    def __init__(self, topic: sns.ITopic, *, message: events.RuleTargetInput) -> None:
        self._topic = topic
        self._message = message

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        # aws:SourceArn is the rule's ARN for event bus rule targets:
        # https://docs.aws.amazon.com/eventbridge/latest/userguide/cross-service-confused-deputy-prevention.html
        self._topic.add_to_resource_policy(iam.PolicyStatement(
            sid=f"EventBridgeRule{Names.unique_id(rule)}", actions=["sns:Publish"],
            principals=[iam.ServicePrincipal("events.amazonaws.com")], resources=[self._topic.topic_arn],
            conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                        "ArnEquals": {"aws:SourceArn": rule.rule_ref.rule_arn}}))
        return events.RuleTargetConfig(arn=self._topic.topic_arn, input=self._message)
