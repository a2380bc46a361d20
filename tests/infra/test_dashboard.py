"""The dashboard and the saved queries, in both variants: every graph shows a metric the stack really publishes (its
own, checked against the proxy's and the control plane's embedded-metric lines) or one AWS publishes, with the
dimensions it is published under; every alarm of the stack is on it; the load balancer's graph names the load
balancer only while it exists; each row's note names a section of operate.md that exists; each saved query reads the
log groups its question is about. (The GovCloud templates carry the same resources: test_templates.py.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from cdk_synth import Synthesized, joined_json, ref
from duomfa import emf
from duomfa.infra.dashboard import NOTES, RADIUS_STATE_LABELS
from duomfa.infra.saved_queries import CONTROL_PLANE, PROXY, QUERIES
from log_lines import control_plane_metric_lines, emf_metrics, stats_line

OPERATE = Path(__file__).resolve().parents[2] / "docs" / "operate.md"
NAMESPACE = {"Fn::Join": ["/", ["DuoMfa", ref("AWS::StackName")]]}
TEST_NAMESPACE = "DuoMfa/test-stack"  # the real lines' namespace; the stack's is NAMESPACE
CLUSTER_AND_SERVICE = ("ClusterName", "ServiceName")
# AWS's own metrics a graph may show, with the dimensions each is published under
AWS_METRICS = {
    # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/cloudwatch-metrics.html (service utilization)
    ("AWS/ECS", "CPUUtilization"): CLUSTER_AND_SERVICE, ("AWS/ECS", "MemoryUtilization"): CLUSTER_AND_SERVICE,
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-metrics-ECS.html
    ("ECS/ContainerInsights", "RunningTaskCount"): CLUSTER_AND_SERVICE,
    ("ECS/ContainerInsights", "DesiredTaskCount"): CLUSTER_AND_SERVICE,
    # https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-cloudwatch-metrics.html
    ("AWS/NetworkELB", "HealthyHostCount"): ("LoadBalancer", "TargetGroup"),
    ("AWS/NetworkELB", "UnHealthyHostCount"): ("LoadBalancer", "TargetGroup"),
    # https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
    ("AWS/Lambda", "Errors"): ("FunctionName",), ("AWS/Lambda", "Throttles"): ("FunctionName",),
    ("AWS/Lambda", "Duration"): ("FunctionName",),
    # https://docs.aws.amazon.com/codebuild/latest/userguide/cloudwatch_metrics-codebuild.html and
    # https://docs.aws.amazon.com/codebuild/latest/userguide/codebuild-cloudwatch-dimensions.html
    ("AWS/CodeBuild", "SucceededBuilds"): ("ProjectName",), ("AWS/CodeBuild", "FailedBuilds"): ("ProjectName",),
}


# --- helpers --------------------------------------------------------------------------------------------------------

def dashboard(s: Synthesized) -> dict:
    return s.only("AWS::CloudWatch::Dashboard")


def body(s: Synthesized) -> dict:
    parsed = joined_json(dashboard(s)["Properties"]["DashboardBody"])
    assert isinstance(parsed, dict)
    return parsed


def widgets(s: Synthesized, kind: str) -> list[dict]:
    return [widget for widget in body(s)["widgets"] if widget["type"] == kind]


def graph(s: Synthesized, title: str) -> dict:
    (found,) = [w["properties"] for w in widgets(s, "metric") if w["properties"]["title"] == title]
    return found


def is_expression(row: list) -> bool:
    return isinstance(row[0], dict) and "expression" in row[0]


def metrics(widget: dict) -> list[tuple[Any, str, dict[str, Any], dict[str, Any]]]:
    """(namespace, metric name, {dimension: value}, options) of each metric of a graph or single-value widget."""
    found = []
    for namespace, name, *rest in (row for row in widget["metrics"] if not is_expression(row)):
        options = rest.pop() if len(rest) % 2 else {}  # dimension name-value pairs, then the options if any
        found.append((namespace, name, dict(zip(rest[::2], rest[1::2], strict=True)), options))
    return found


def all_metrics(s: Synthesized) -> list[tuple[Any, str, dict[str, Any], dict[str, Any]]]:
    return [metric for widget in widgets(s, "metric") for metric in metrics(widget["properties"])]


def resolve(value: Any, conditions: dict[str, bool]) -> Any:
    """The value with every Fn::If decided by `conditions`."""
    if isinstance(value, list):
        return [resolve(item, conditions) for item in value]
    if isinstance(value, dict):
        if "Fn::If" in value:
            condition, when_true, when_false = value["Fn::If"]
            return resolve(when_true if conditions[condition] else when_false, conditions)
        return {key: resolve(item, conditions) for key, item in value.items()}
    return value


def references(value: Any) -> set[str]:
    """The logical IDs a value refers to (Ref and Fn::GetAtt), parameters and pseudo parameters included."""
    if isinstance(value, list):
        return set().union(*(references(item) for item in value))
    if isinstance(value, dict):
        found = set().union(*(references(item) for item in value.values()))
        if "Ref" in value:
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            found.add(value["Fn::GetAtt"][0])
        return found
    return set()


def function_by_description(s: Synthesized, start: str) -> str:
    (found,) = [name for name, function in s.resources("AWS::Lambda::Function").items()
                if function["Properties"].get("Description", "").startswith(start)]
    return found


# --- the dashboard ------------------------------------------------------------------------------------------------

def test_the_dashboard_is_named_after_the_stack_and_the_region(variant):
    name = dashboard(variant)["Properties"]["DashboardName"]
    assert name == {"Fn::Join": ["-", ["DuoMfa", ref("AWS::StackName"), ref("AWS::Region")]]}
    # stack names are letters, digits and hyphens, at most 128: within PutDashboard's 255 of [A-Za-z0-9_-]
    longest = "-".join(["DuoMfa", "S" * 128, "ap-southeast-5"])
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,255}", longest)
    assert variant.json["Outputs"]["DashboardName"]["Value"] == ref(next(iter(variant.resources(
        "AWS::CloudWatch::Dashboard"))))


def test_every_graph_shows_a_metric_the_stack_or_aws_publishes(variant):
    published = emf_metrics([stats_line(TEST_NAMESPACE), *control_plane_metric_lines(TEST_NAMESPACE)])
    shown = all_metrics(variant)
    assert shown
    for namespace, name, dimensions, _ in shown:
        if namespace == NAMESPACE:  # the stack's own: a name and dimensions its lines really carry
            assert (TEST_NAMESPACE, name) in published, name
            assert tuple(sorted(dimensions)) in published[TEST_NAMESPACE, name], (name, dimensions)
        else:
            assert (namespace, name) in AWS_METRICS, (namespace, name)
            assert tuple(sorted(dimensions)) == AWS_METRICS[namespace, name], (name, dimensions)


def test_the_stack_s_own_metrics_are_published_in_the_namespace_the_dashboard_reads(variant):
    (task,) = variant.resources("AWS::ECS::TaskDefinition").values()
    (container,) = task["Properties"]["ContainerDefinitions"]
    assert {"Name": "DUOMFA_METRICS_NAMESPACE", "Value": NAMESPACE} in container["Environment"]
    for description in ("Duo MFA: converges", "Duo MFA: rotates"):
        function = variant.json["Resources"][function_by_description(variant, description)]
        assert function["Properties"]["Environment"]["Variables"]["METRICS_NAMESPACE"] == NAMESPACE


def test_logins_latency_duo_and_drops_are_shown_per_minute(variant):
    logins = {name: options for _, name, _, options in metrics(graph(variant, "Logins per minute by result"))}
    assert set(logins) == {emf.ACCEPTED, emf.REJECTED, emf.FAIL_OPEN, emf.EXEMPT}
    assert all(options == {**options, "stat": "Sum", "period": 60} for options in logins.values())
    latency = {(name, options["stat"]) for _, name, _, options in metrics(graph(variant, "Latency (ms)"))}
    assert latency == {(n, p) for n in (emf.LOGIN_LATENCY, emf.DUO_LATENCY) for p in ("p50", "p99")}
    duo = [name for _, name, _, _ in metrics(graph(variant, "Duo errors by kind"))]
    assert duo == list(emf.DUO_ERRORS_BY_KIND.values())
    drops = [name for _, name, _, _ in metrics(graph(variant, "Dropped requests by reason"))]
    assert drops == list(emf.DROPPED_BY_REASON.values())
    # a gauge: summed over five minutes and divided by five, so a line that lands in a neighbouring minute is not
    # counted twice
    pending = graph(variant, "Pushes waiting for a person")
    assert [(n, o["stat"], o["visible"]) for _, n, _, o in metrics(pending)] == [(emf.PENDING_PUSHES, "Sum", False)]
    (expression,) = [row[0] for row in pending["metrics"] if is_expression(row)]
    assert expression["expression"] == "pending / 5" and pending["period"] == 300
    assert [n for _, n, _, _ in metrics(graph(variant, "Push-guard refusals"))] == [emf.PUSH_GUARD]


def test_the_proxies_tasks_and_utilization_come_from_their_service(variant):
    service = next(iter(variant.resources("AWS::ECS::Service")))
    cluster = next(iter(variant.resources("AWS::ECS::Cluster")))
    expected = {"ClusterName": ref(cluster), "ServiceName": {"Fn::GetAtt": [service, "Name"]}}
    for title in ("Proxy tasks", "CPU and memory (%)"):
        for _, _, dimensions, _ in metrics(graph(variant, title)):
            assert dimensions == expected
    # the running task count is a Container Insights metric: it is on in the cluster
    settings = variant.json["Resources"][cluster]["Properties"]["ClusterSettings"]
    assert {"Name": "containerInsights", "Value": "enabled"} in settings


def test_the_control_plane_graphs_show_the_four_functions(variant):
    functions = {function_by_description(variant, start) for start in (
        "Duo MFA: rotates", "Duo MFA: converges", "Duo MFA: writes the running", "Duo MFA: moves the control")}
    for title, names in (("Control plane: errors and throttles", {"Errors", "Throttles"}),
                         ("Control plane: longest run (ms)", {"Duration"})):
        shown = {(name, dimensions["FunctionName"]["Ref"]) for _, name, dimensions, _ in metrics(graph(variant, title))}
        assert shown == {(name, function) for name in names for function in functions}


def test_builds_and_rotations_are_shown_day_by_day_over_five_weeks(variant):
    project = next(iter(variant.resources("AWS::CodeBuild::Project")))
    for title, expected in (("Image builds per day (last 5 weeks)", {"SucceededBuilds", "FailedBuilds"}),
                            ("Rotations per day (last 5 weeks)", {emf.ROTATION_SUCCEEDED, emf.ROTATION_FAILED})):
        widget = graph(variant, title)
        assert widget["start"] == "-P35D" and widget["period"] == 86400
        assert {name for _, name, _, _ in metrics(widget)} == expected
        for namespace, _, dimensions, options in metrics(widget):
            assert options["stat"] == "Sum"
            assert dimensions == ({"ProjectName": ref(project)} if namespace == "AWS/CodeBuild" else {})


def test_the_directory_s_radius_state_is_shown_paused_when_mfa_is_off(variant):
    assert set(RADIUS_STATE_LABELS) == set(emf.RADIUS_STATES)
    (status,) = [w["properties"] for w in widgets(variant, "metric") if w["properties"].get("view") == "singleValue"]
    shown = {name: options["label"] for _, name, _, options in metrics(status)}
    assert shown == {emf.RADIUS_STATE_METRICS[state]: label for state, label in RADIUS_STATE_LABELS.items()}
    assert "Paused" in shown["Radius_paused"] and "DirectoryMfa" in shown["Radius_paused"]
    directory_id = variant.json["Outputs"]["ProtectedDirectoryId"]["Value"]
    in_sync = metrics(graph(variant, "Directory RADIUS in sync (1) or not (0)"))
    for _, _, dimensions, _ in [*metrics(status), *in_sync]:
        assert dimensions == {emf.DIRECTORY_ID: directory_id}


def test_the_alarm_widget_lists_every_alarm_of_the_stack(variant):
    (alarms,) = widgets(variant, "alarm")
    listed = [arn["Fn::GetAtt"][0] for arn in alarms["properties"]["alarms"]]
    assert sorted(listed) == sorted(variant.resources("AWS::CloudWatch::Alarm"))


@pytest.mark.parametrize("load_balancer_on", [True, False])
def test_the_dashboard_names_the_load_balancer_only_while_it_exists(variant, load_balancer_on):
    resources = variant.json["Resources"]
    properties = dashboard(variant)["Properties"]
    assert "Condition" not in dashboard(variant)
    resolved = resolve(joined_json(properties["DashboardBody"]), {"LoadBalancerOn": load_balancer_on})
    referred = references(resolved) & set(resources)
    assert all(resources[name].get("Condition") in (None, "LoadBalancerOn") for name in referred)
    conditional = {name for name in referred if resources[name].get("Condition") == "LoadBalancerOn"}
    targets = [m for w in resolved["widgets"] if w["type"] == "metric" for m in metrics(w["properties"])
               if m[0] == "AWS/NetworkELB"]
    assert {name for _, name, _, _ in targets} == {"HealthyHostCount", "UnHealthyHostCount"}
    if load_balancer_on:
        load_balancer = next(iter(variant.resources("AWS::ElasticLoadBalancingV2::LoadBalancer")))
        target_group = next(iter(variant.resources("AWS::ElasticLoadBalancingV2::TargetGroup")))
        assert conditional == {load_balancer, target_group}
        for _, _, dimensions, _ in targets:
            assert dimensions == {"LoadBalancer": {"Fn::GetAtt": [load_balancer, "LoadBalancerFullName"]},
                                  "TargetGroup": {"Fn::GetAtt": [target_group, "TargetGroupFullName"]}}
    else:
        assert conditional == set()
        assert all(set(dimensions.values()) == {"none"} for _, _, dimensions, _ in targets)


def at_a_glance_sections() -> set[str]:
    text = OPERATE.read_text(encoding="utf-8")
    section = text[text.index("\n## At a glance\n"):]
    section = section[:section.index("\n## ", 1)]
    return set(re.findall(r"^### (.+)$", section, re.MULTILINE))


def test_each_row_starts_with_a_note_that_names_a_section_of_operate_md(variant):
    sections = at_a_glance_sections()
    named = {section for note in NOTES.values() for section in re.findall(r'"At a glance" → "([^"]+)"', note)}
    assert named and named <= sections, named - sections
    assert set(NOTES) - {"top"} <= named  # every row's note sends the reader to its own section
    rows: dict[int, list[dict]] = {}
    for widget in body(variant)["widgets"]:
        rows.setdefault(widget["y"], []).append(widget)
    for row in rows.values():
        first = min(row, key=lambda widget: widget["x"])
        assert first["type"] == "text" and first["x"] == 0, row
        assert "At a glance" in first["properties"]["markdown"]


# --- the saved queries ----------------------------------------------------------------------------------------------

def log_group_of_function(s: Synthesized, description_start: str) -> dict:
    function = s.json["Resources"][function_by_description(s, description_start)]
    return function["Properties"]["LoggingConfig"]["LogGroup"]


def test_each_saved_query_is_named_for_its_question_and_reads_its_log_groups(variant):
    (task,) = variant.resources("AWS::ECS::TaskDefinition").values()
    (container,) = task["Properties"]["ContainerDefinitions"]
    proxy_logs = [container["LogConfiguration"]["Options"]["awslogs-group"]]
    rotation_logs = [log_group_of_function(variant, start)
                     for start in ("Duo MFA: rotates", "Duo MFA: converges", "Duo MFA: writes the running")]
    definitions = {d["Properties"]["Name"]["Fn::Join"][1][2]: d["Properties"]
                   for d in variant.resources("AWS::Logs::QueryDefinition").values()}
    assert set(definitions) == {query.question for query in QUERIES}
    for query in QUERIES:
        definition = definitions[query.question]
        assert definition["Name"] == {"Fn::Join": ["/", ["DuoMfa", ref("AWS::StackName"), query.question]]}
        assert len(f"DuoMfa/{'S' * 128}/{query.question}") <= 255
        assert definition["QueryString"] == query.text
        expected = {PROXY: proxy_logs, CONTROL_PLANE: rotation_logs}[query.reads]
        assert sorted(definition["LogGroupNames"], key=str) == sorted(expected, key=str), query.question


def test_the_rotation_query_says_what_to_edit():
    (rotation,) = [query for query in QUERIES if query.reads == CONTROL_PLANE]
    assert "version ID" in rotation.question and "PASTE-VERSION-ID-HERE" in rotation.text
