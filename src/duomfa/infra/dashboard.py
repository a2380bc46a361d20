"""The stack's CloudWatch dashboard, DuoMfa-STACK-REGION: logins, Duo, dropped requests, the proxies and the load
balancer, the control plane, the image builds and rotations, the directory's RADIUS status and every alarm of the
stack. Each row starts with a note on what its graphs show and what to do when they look wrong (docs/operate.md,
"At a glance"); the metrics are the stack's own (named in duomfa.emf) and AWS's: ECS, Container Insights, the load
balancer, Lambda and CodeBuild."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Aws, Duration, Fn
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from duomfa import emf
from duomfa.infra.load_balancer import HEALTHY_TARGETS, UNHEALTHY_TARGETS, RadiusLoadBalancer

PROXY_PERIOD = Duration.minutes(1)  # the proxies' stats line comes once a minute
# a gauge in that line may land in either neighbouring minute (one proxy counted twice in one, not at all in the
# next): summed over five minutes and divided by five, each proxy counts once, whichever minutes its lines fell in
GAUGE_PERIOD, GAUGE_LINES = Duration.minutes(5), 5
CONTROL_PERIOD = Duration.minutes(5)  # the directory updater's schedule, and the control plane's alarms
OUTCOME_PERIOD, OUTCOME_RANGE = Duration.days(1), "-P35D"  # five weekly image builds and rotations, day by day
DEFAULT_RANGE = Duration.hours(3)
# Container Insights (on in the proxies' cluster): the service's task counts, by ClusterName and ServiceName
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-metrics-ECS.html
CONTAINER_INSIGHTS, RUNNING_TASKS, DESIRED_TASKS = "ECS/ContainerInsights", "RunningTaskCount", "DesiredTaskCount"
GUIDE = 'docs/operate.md, "At a glance"'
RADIUS_STATE_LABELS = {
    "completed": "Completed as desired", "creating": "Creating (applying a change)", "failed": "Failed",
    "absent": "RADIUS not configured", "differs": "Completed, other settings", "paused": "Paused (DirectoryMfa)",
}


def guide(section: str) -> str:
    """Where a note sends the reader: a section of operate.md's "At a glance" (a test checks that it exists)."""
    return f'{GUIDE} → "{section}"'


NOTES = {
    "top": "# Duo MFA: {stack} in {region}\n"
           "Each row: a note, then its graphs. Proxy graphs are per minute, summed over all proxies. What each "
           f"graph means and what to do: {GUIDE}. Who and which client: the saved Logs Insights queries in the "
           "folder DuoMfa/{stack}.",
    "Alarms": "**Alarms.** Every alarm of the stack, firing ones first. An alarm in ALARM has a row in "
              'docs/operate.md, "Alarms and notices" that says what to do; the graphs below show since when. '
              f"More: {guide('Alarms')}.",
    "Logins": "**Logins** per minute by result (accepted counts exempt and fail-open logins too) and how long they "
              "take (a login's time includes the person's answer to a push). Rejected going up while accepted "
              "falls: read the saved query *Failed logins by user and reason*. Any fail-open: Duo could not be "
              "reached and users got in with their password only. Duo API p99 in seconds: the route to Duo or Duo "
              f"itself is slow. {guide('Logins')}.",
    "Duo": "**Duo**: errors by kind, pushes and calls waiting for a person, and the push-bombing guard's refusals. "
           "timeout/unreachable/http_5xx: the route to Duo or Duo itself (status.duo.com); refused: the Duo keys; "
           "not_duo: a wrong API host or an intercepting proxy; busy: the proxies are overloaded. Guard refusals: "
           "one person asked for more than MaxPushesPerUserPerMinute — a user retrying, or push bombing. "
           f"{guide('Duo')}.",
    "Dropped requests": "**Dropped requests**: what the proxies did not answer, by reason — the user sees a "
                        "timeout. bad_secret/bad_message_authenticator: the directory's shared secret differs; "
                        "unknown_client: a sender that is no RADIUS client. *Drops by client and reason* names "
                        f"the client. {guide('Dropped requests')}.",
    "Proxies": "**Proxies**: tasks running against the desired count, CPU and memory (autoscaling adds tasks above "
               "70 % CPU or 80 % memory, up to MaxTasks), and the load balancer's healthy and unhealthy targets "
               "(no data when LoadBalancer is No). Running below desired for minutes: ECS → the service → Events. "
               f"{guide('Proxies')}.",
    "Control plane": "**Control plane**: errors, throttles and the longest run of the rotation, address-tracker, "
                     "directory-updater and function-images Lambdas, per 5 minutes. An error: the function's log "
                     "says why (the functions' names are stack outputs); the updater retries every 5 minutes. "
                     f"{guide('Control plane')}.",
    "Image builds and rotations": "**Image builds and rotations**, per day over the last 5 weeks (a week's build "
                                  "on RebuildSchedule, a rotation on RotationSchedule). A failed build keeps the "
                                  "previous image; a failed rotation keeps the current secret — logins go on. A "
                                  "pipeline that fails before its build (the source stage) shows no build here: "
                                  "its notice says so. "
                                  f"{guide('Image builds and rotations')}.",
    "Directory RADIUS status": "**Directory RADIUS status**, from the directory updater every 5 minutes: 1 marks "
                               "the directory's current state; in sync is 1 while it is Completed as desired or "
                               "paused (DirectoryMfa Disabled). Failed or other settings for more than a run: the "
                               "updater's log and its notices say why; run `duomfa doctor --stack STACK`. "
                               f"{guide('Directory RADIUS status')}.",
}


class OperationsDashboard(Construct):
    """Exposes `dashboard` and `dashboard_name`. `functions`: the control plane's Lambdas by the name the graphs
    give them; `alarms`: every alarm of the stack."""

    def __init__(self, scope: Construct, construct_id: str, *, namespace: str, service: ecs.FargateService,
                 load_balancer: RadiusLoadBalancer, build_project: codebuild.IProject,
                 functions: Mapping[str, lambda_.IFunction], directory_id: str,
                 alarms: Sequence[cloudwatch.IAlarm]) -> None:
        super().__init__(scope, construct_id)
        self._namespace = namespace

        def note(section: str, width: int = 6, height: int = 6) -> cloudwatch.TextWidget:
            return cloudwatch.TextWidget(markdown=NOTES[section], width=width, height=height)

        def graph(title: str, metrics: Sequence[cloudwatch.IMetric], width: int,
                  **options: Any) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(title=title, left=list(metrics), width=width, height=6, **options)

        proxy = self._proxy_metric
        cluster_and_service = {"ClusterName": service.cluster.cluster_name, "ServiceName": service.service_name}
        tasks = [cloudwatch.Metric(namespace=CONTAINER_INSIGHTS, metric_name=name, dimensions_map=cluster_and_service,
                                   statistic="Average", period=PROXY_PERIOD, label=label)
                 for name, label in ((RUNNING_TASKS, "running"), (DESIRED_TASKS, "desired"))]
        outcomes = {"start": OUTCOME_RANGE, "period": OUTCOME_PERIOD}

        # dashboards are global to the account: the region in the name keeps one stack name in two regions apart
        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=Fn.join("-", [emf.NAMESPACE_PREFIX, Aws.STACK_NAME, Aws.REGION]),
            default_interval=DEFAULT_RANGE)
        self.dashboard_name = self.dashboard.dashboard_name
        top = NOTES["top"].format(stack=Aws.STACK_NAME, region=Aws.REGION)
        self.dashboard.add_widgets(cloudwatch.TextWidget(markdown=top, width=24, height=2))
        self.dashboard.add_widgets(
            note("Alarms"),
            cloudwatch.AlarmStatusWidget(title="Alarms of the stack", alarms=list(alarms), width=18, height=6))
        self.dashboard.add_widgets(
            note("Logins"),
            graph("Logins per minute by result", [
                proxy(emf.ACCEPTED, "accepted"), proxy(emf.REJECTED, "rejected"),
                proxy(emf.FAIL_OPEN, "fail-open"), proxy(emf.EXEMPT, "exempt")], 9),
            graph("Latency (ms)", [
                proxy(emf.LOGIN_LATENCY, "login p50", "p50"), proxy(emf.LOGIN_LATENCY, "login p99", "p99"),
                proxy(emf.DUO_LATENCY, "Duo API p50", "p50"), proxy(emf.DUO_LATENCY, "Duo API p99", "p99")], 9))
        self.dashboard.add_widgets(
            note("Duo"),
            graph("Duo errors by kind", [proxy(name, kind) for kind, name in emf.DUO_ERRORS_BY_KIND.items()], 6,
                  stacked=True),
            graph("Pushes waiting for a person", [cloudwatch.MathExpression(
                expression=f"pending / {GAUGE_LINES}", label="pending pushes (5-minute average)", period=GAUGE_PERIOD,
                using_metrics={"pending": self._metric(emf.PENDING_PUSHES, "pending", "Sum", GAUGE_PERIOD)})], 6,
                  period=GAUGE_PERIOD),
            graph("Push-guard refusals", [proxy(emf.PUSH_GUARD, "refused")], 6))
        self.dashboard.add_widgets(
            note("Dropped requests"),
            graph("Dropped requests by reason",
                  [proxy(name, reason) for reason, name in emf.DROPPED_BY_REASON.items()], 18, stacked=True))
        self.dashboard.add_widgets(
            note("Proxies"),
            graph("Proxy tasks", tasks, 6),
            graph("CPU and memory (%)", [service.metric_cpu_utilization(period=PROXY_PERIOD, label="CPU"),
                                         service.metric_memory_utilization(period=PROXY_PERIOD, label="memory")], 6,
                  left_y_axis=cloudwatch.YAxisProps(min=0, max=100)),
            graph("Load balancer targets (LoadBalancer Yes)", [
                load_balancer.metric_targets(HEALTHY_TARGETS, "Minimum", "healthy"),
                load_balancer.metric_targets(UNHEALTHY_TARGETS, "Maximum", "unhealthy")], 6))
        self.dashboard.add_widgets(
            note("Control plane"),
            graph("Control plane: errors and throttles", [
                metric for name, function in functions.items() for metric in (
                    function.metric_errors(period=CONTROL_PERIOD, statistic="Sum", label=f"{name} errors"),
                    function.metric_throttles(period=CONTROL_PERIOD, statistic="Sum", label=f"{name} throttles"))],
                  9),
            graph("Control plane: longest run (ms)", [
                function.metric_duration(period=CONTROL_PERIOD, statistic="Maximum", label=name)
                for name, function in functions.items()], 9))
        self.dashboard.add_widgets(
            note("Image builds and rotations"),
            graph("Image builds per day (last 5 weeks)", [
                build_project.metric_succeeded_builds(period=OUTCOME_PERIOD, statistic="Sum", label="succeeded"),
                build_project.metric_failed_builds(period=OUTCOME_PERIOD, statistic="Sum", label="failed")], 9,
                  **outcomes),
            graph("Rotations per day (last 5 weeks)", [
                self._metric(emf.ROTATION_SUCCEEDED, "succeeded", "Sum", OUTCOME_PERIOD),
                self._metric(emf.ROTATION_FAILED, "failed", "Sum", OUTCOME_PERIOD)], 9, **outcomes))
        directory = {emf.DIRECTORY_ID: directory_id}
        self.dashboard.add_widgets(
            note("Directory RADIUS status"),
            cloudwatch.SingleValueWidget(title="Directory RADIUS status now (1 = current)", width=9, height=6, metrics=[
                self._metric(emf.RADIUS_STATE_METRICS[state], label, "Maximum", CONTROL_PERIOD, directory)
                for state, label in RADIUS_STATE_LABELS.items()]),
            graph("Directory RADIUS in sync (1) or not (0)", [
                self._metric(emf.RADIUS_IN_SYNC, "in sync", "Minimum", CONTROL_PERIOD, directory)], 9,
                  left_y_axis=cloudwatch.YAxisProps(min=0, max=1)))

    def _metric(self, name: str, label: str, statistic: str, period: Duration,
                dimensions: Mapping[str, str] | None = None) -> cloudwatch.Metric:
        """One of the stack's own metrics (duomfa.emf), in its namespace."""
        return cloudwatch.Metric(namespace=self._namespace, metric_name=name, label=label, statistic=statistic,
                                 period=period, dimensions_map=dict(dimensions or {}))

    def _proxy_metric(self, name: str, label: str, statistic: str = "Sum") -> cloudwatch.Metric:
        """A metric of the proxies' stats line: one series for all proxies, one value per proxy per minute."""
        return self._metric(name, label, statistic, PROXY_PERIOD)
