"""What the admins are told about the control plane: an alarm on each function's errors, on the directory's RADIUS
status not being in sync, on events waiting in the dead-letter queue, and a notice when a rotation fails — all to
the admins' topic, as Monitoring's alarms on the proxies."""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from duomfa.infra.logical_ids import leave_out_of_logical_ids
from duomfa.infra.monitoring import TopicNotice

ERROR_PERIOD = Duration.minutes(5)
NOT_IN_SYNC_PERIODS = 6  # of the updater's 5-minute schedule: 30 minutes not Completed as desired before the alarm


class ControlPlaneAlarms(Construct):
    """Exposes `alarms` by name and `rules` (the rotation-failed notice)."""

    def __init__(self, scope: Construct, construct_id: str, *, topic: sns.ITopic, secret: secretsmanager.ISecret,
                 rotation: lambda_.IFunction, tracker: lambda_.IFunction, updater: lambda_.IFunction,
                 refresher: lambda_.IFunction, radius_in_sync: cloudwatch.IMetric, dead_letters: sqs.IQueue) -> None:
        """`radius_in_sync`: the updater's metric, 1 while the directory is Completed as desired (or paused)."""
        super().__init__(scope, construct_id)
        leave_out_of_logical_ids(self)  # its resources keep the logical IDs they had as ControlPlane's own
        failed = events.Rule(
            self, "RotationFailed", description="Duo MFA: tell the admins when a rotation of the secret fails",
            event_pattern=events.EventPattern(
                source=["aws.secretsmanager"], detail_type=["AWS Service Event via CloudTrail"],
                detail={"eventName": ["RotationFailed"], "additionalEventData": {"SecretId": [secret.secret_arn]}}))
        failed.add_target(TopicNotice(topic, message=events.RuleTargetInput.from_text(
            f"Duo MFA: the rotation of the RADIUS shared secret failed in {Aws.REGION}: "
            f"{events.EventField.from_path('$.detail.errorMessage')}. Logins go on with the current secret (the "
            "proxies accept it until a rotation finishes). The rotation Lambda's log says which step failed and why; "
            "`duomfa doctor --stack STACK` checks the proxies and the directory.")))
        self.rules = {"rotation_failed": failed}

        self.alarms: dict[str, cloudwatch.Alarm] = {}
        errors = {
            "RotationErrors": (rotation, "The secret rotation Lambda failed a step: the rotation stops and nothing "
                                         "is promoted; logins go on with the current secret. See its log."),
            "AddressTrackerErrors": (tracker, "The address tracker failed: the directory may keep old proxy "
                                              "addresses. See its log."),
            "DirectoryUpdaterErrors": (updater, "The directory updater failed (RadiusStatus Failed, a deadline, or "
                                                "an error); its SNS notice says what it found. It retries every 5 "
                                                "minutes."),
            "FunctionImagesErrors": (refresher, "The control-plane Lambdas could not be moved to the newest image; "
                                                "they fail once their image expires (ImageRetentionDays)."),
        }
        for name, (function, description) in errors.items():
            self.alarms[name] = cloudwatch.Alarm(
                self, name, metric=function.metric_errors(period=ERROR_PERIOD, statistic="Sum"), threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING, alarm_description=description)
        self.alarms["DirectoryRadiusNotInSync"] = cloudwatch.Alarm(
            self, "DirectoryRadiusNotInSync", metric=radius_in_sync, threshold=1,
            evaluation_periods=NOT_IN_SYNC_PERIODS, datapoints_to_alarm=NOT_IN_SYNC_PERIODS,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            # no data: the updater did not run at all, which is as bad
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            alarm_description="The directory's RADIUS settings have not been Completed as desired for 30 minutes "
                              "(not configured, Creating, Failed, or different from the proxies), or the directory "
                              "updater has not run. MFA logins may fail. The updater's log and SNS notices say what "
                              "it found; run `duomfa doctor --stack STACK`. Not raised while DirectoryMfa is "
                              "Disabled.")
        self.alarms["DeadLetters"] = cloudwatch.Alarm(
            self, "DeadLettersWaiting",
            metric=dead_letters.metric_approximate_number_of_messages_visible(period=ERROR_PERIOD,
                                                                              statistic="Maximum"),
            threshold=1, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description="A control-plane event could not be handled after its retries; the queue keeps it 14 "
                              "days. Look at it (and the functions' logs), then purge the queue.")
        action = cloudwatch_actions.SnsAction(topic)
        for alarm in self.alarms.values():
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
