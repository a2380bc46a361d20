"""The image gate's decisions, against botocore's Stubber (the real ECR and Inspector models) and moto's ECR, with an
injected clock so that waits take no time."""

from __future__ import annotations

import json
import subprocess

import boto3
import pytest
from botocore.stub import Stubber

from duomfa.control import image_gate
from duomfa.control.image_gate import GateMode, covering_rules, filter_selects, parse_options, pending_os_upgrades

REPOSITORY = "duomfa-proxy"
DIGEST = "sha256:" + "ab" * 32
IMAGE_ID = {"imageDigest": DIGEST}
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
FINDINGS_CALL = {"repositoryName": REPOSITORY, "imageId": IMAGE_ID, "maxResults": 1000}


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def client(service):
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


class Aws:
    """Stubbed ECR and Inspector clients: each test queues the calls it expects, in order."""

    def __init__(self):
        self.ecr, self.inspector = client("ecr"), client("inspector2")
        self.ecr_stub, self.inspector_stub = Stubber(self.ecr), Stubber(self.inspector)

    def image(self, media_type=DOCKER_V2):
        self.ecr_stub.add_response(
            "describe_images", {"imageDetails": [{"repositoryName": REPOSITORY, "imageDigest": DIGEST,
                                                  "imageTags": ["scan"], "imageManifestMediaType": media_type}]},
            {"repositoryName": REPOSITORY, "imageIds": [{"imageTag": "scan"}]})
        return self

    def registry(self, scan_type="BASIC", rules=()):
        self.ecr_stub.add_response("get_registry_scanning_configuration", {
            "registryId": "123456789012", "scanningConfiguration": {"scanType": scan_type, "rules": list(rules)}}, {})
        return self

    def scan(self, status, *, findings=None, enhanced=None, counts=None, token=None, params=FINDINGS_CALL):
        answer = {"repositoryName": REPOSITORY, "imageId": IMAGE_ID, "imageScanStatus": {"status": status}}
        if findings is not None or enhanced is not None or counts is not None:
            answer["imageScanFindings"] = {key: value for key, value in (
                ("findings", findings), ("enhancedFindings", enhanced), ("findingSeverityCounts", counts))
                if value is not None}
        if token:
            answer["nextToken"] = token
        self.ecr_stub.add_response("describe_image_scan_findings", answer, params)
        return self

    def scan_error(self, code, message="denied"):
        self.ecr_stub.add_client_error("describe_image_scan_findings", service_error_code=code,
                                       service_message=message, expected_params=FINDINGS_CALL)
        return self

    def start(self, error=None):
        params = {"repositoryName": REPOSITORY, "imageId": IMAGE_ID}
        if error:
            self.ecr_stub.add_client_error("start_image_scan", service_error_code=error, expected_params=params)
        else:
            self.ecr_stub.add_response("start_image_scan", {"repositoryName": REPOSITORY, "imageId": IMAGE_ID,
                                                            "imageScanStatus": {"status": "IN_PROGRESS"}}, params)
        return self

    def coverage(self, resources=(), error=None):
        if error:
            self.inspector_stub.add_client_error("list_coverage", service_error_code=error, http_status_code=403)
        else:
            self.inspector_stub.add_response("list_coverage", {"coveredResources": list(resources)})
        return self

    def run(self, mode=GateMode.FIXABLE_CRITICAL_HIGH, *, timeout=600, clock=None, local_image=None, runner=None):
        clock = clock or FakeClock()
        with self.ecr_stub, self.inspector_stub:
            code = image_gate.run_gate(self.ecr, REPOSITORY, "scan", mode, timeout=timeout,
                                       inspector_factory=lambda: self.inspector, clock=clock, sleep=clock.sleep,
                                       local_image=local_image, run=runner or refuse_to_run)
            self.ecr_stub.assert_no_pending_responses()
            self.inspector_stub.assert_no_pending_responses()
        return code


def refuse_to_run(*args, **kwargs):
    raise AssertionError("no docker run expected")


def enhanced(cve, severity, fix, status="ACTIVE"):
    package = {"name": "openssl", "version": "3.0.11", "fixedInVersion": "3.0.13" if fix == "YES" else "NotAvailable"}
    return {"severity": severity, "fixAvailable": fix, "status": status, "title": f"{cve} - openssl",
            "packageVulnerabilityDetails": {"vulnerabilityId": cve, "vulnerablePackages": [package]}}


def basic(cve, severity):
    return {"name": cve, "severity": severity, "attributes": [{"key": "package_name", "value": "glibc"},
                                                              {"key": "package_version", "value": "2.36-9"}]}


ENHANCED_RULES = [{"scanFrequency": "CONTINUOUS_SCAN",
                   "repositoryFilters": [{"filter": "duomfa*", "filterType": "WILDCARD"}]}]


def verdict(capsys):
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (last,) = [line for line in lines if "result" in line]
    return last


# --- what blocks, per mode ------------------------------------------------------------------------------------------

def test_a_fixable_high_finding_refuses_the_image_by_default(capsys):
    aws = Aws().image().registry("ENHANCED", ENHANCED_RULES).scan(
        "ACTIVE", enhanced=[enhanced("CVE-2026-1", "HIGH", "YES"), enhanced("CVE-2026-2", "HIGH", "NO")],
        counts={"HIGH": 2})
    assert aws.run() == 1
    line = verdict(capsys)
    assert (line["result"], line["level"], line["gate"]) == ("refused", "ERROR", "FixableCriticalHigh")
    assert [b.split()[0] for b in line["blocking"]] == ["CVE-2026-1"]
    assert [r.split()[0] for r in line["reported"]] == ["CVE-2026-2"]


def test_a_partial_fix_counts_as_fixable(capsys):
    aws = Aws().image().registry("ENHANCED", ENHANCED_RULES).scan(
        "ACTIVE", enhanced=[enhanced("CVE-2026-3", "CRITICAL", "PARTIAL")], counts={"CRITICAL": 1})
    assert aws.run() == 1
    assert verdict(capsys)["blocking"][0].startswith("CVE-2026-3")


def test_unfixable_high_and_critical_findings_pass_with_a_report(capsys):
    aws = Aws().image().registry("ENHANCED", ENHANCED_RULES).scan(
        "ACTIVE", enhanced=[enhanced("CVE-2026-4", "HIGH", "NO"), enhanced("CVE-2026-5", "CRITICAL", "NO"),
                            enhanced("CVE-2026-6", "MEDIUM", "YES")], counts={"HIGH": 1, "CRITICAL": 1, "MEDIUM": 1})
    assert aws.run() == 0
    line = verdict(capsys)
    assert (line["result"], line["blocking"]) == ("passed", [])
    assert {r.split()[0] for r in line["reported"]} == {"CVE-2026-4", "CVE-2026-5"}
    assert line["findings"] == {"HIGH": 1, "CRITICAL": 1, "MEDIUM": 1}


def test_critical_mode_refuses_an_unfixable_critical_finding(capsys):
    aws = Aws().image().registry("ENHANCED", ENHANCED_RULES).scan(
        "ACTIVE", enhanced=[enhanced("CVE-2026-7", "CRITICAL", "NO")], counts={"CRITICAL": 1})
    assert aws.run(GateMode.CRITICAL) == 1
    assert verdict(capsys)["blocking"][0].startswith("CVE-2026-7")


def test_critical_mode_lets_a_fixable_high_finding_through_with_a_report(capsys):
    aws = Aws().image().registry("ENHANCED", ENHANCED_RULES).scan(
        "ACTIVE", enhanced=[enhanced("CVE-2026-8", "HIGH", "YES")], counts={"HIGH": 1})
    assert aws.run(GateMode.CRITICAL) == 0
    assert verdict(capsys)["reported"][0].startswith("CVE-2026-8")


def test_off_passes_a_fixable_critical_finding_and_says_so_loudly(capsys):
    aws = Aws().image().registry("ENHANCED", ENHANCED_RULES).scan(
        "ACTIVE", enhanced=[enhanced("CVE-2026-9", "CRITICAL", "YES")], counts={"CRITICAL": 1})
    assert aws.run(GateMode.OFF) == 0
    line = verdict(capsys)
    assert (line["result"], line["level"]) == ("passed", "WARNING")
    assert "GATE IS OFF" in line["warning"] and line["reported"][0].startswith("CVE-2026-9")


def test_off_still_passes_when_no_scan_comes(capsys):
    aws = Aws().image().registry("ENHANCED", [])
    assert aws.run(GateMode.OFF) == 0
    line = verdict(capsys)
    assert line["level"] == "WARNING" and "GATE IS OFF" in line["warning"] and "no scanning rule" in line["reason"]


def test_a_suppressed_finding_does_not_block(capsys):
    aws = Aws().image().registry("ENHANCED", ENHANCED_RULES).scan(
        "ACTIVE", enhanced=[enhanced("CVE-2026-10", "HIGH", "YES", status="SUPPRESSED")], counts={"HIGH": 1})
    assert aws.run() == 0


def test_findings_counted_but_not_listed_block_as_fixable(capsys):
    # an older botocore drops what its model lacks: counts with no list must not read as a clean image
    aws = Aws().image().registry("ENHANCED", ENHANCED_RULES).scan("ACTIVE", enhanced=[], counts={"HIGH": 2})
    assert aws.run() == 1
    assert len(verdict(capsys)["blocking"]) == 2


def test_every_page_of_findings_is_read(capsys):
    aws = (Aws().image().registry("ENHANCED", ENHANCED_RULES)
           .scan("ACTIVE", enhanced=[enhanced("CVE-2026-11", "HIGH", "NO")], counts={"HIGH": 2}, token="page-2")
           .scan("ACTIVE", enhanced=[enhanced("CVE-2026-12", "HIGH", "YES")],
                 params={**FINDINGS_CALL, "nextToken": "page-2"}))
    assert aws.run() == 1
    assert verdict(capsys)["blocking"][0].startswith("CVE-2026-12")


# --- basic scanning: starting the scan, and what a fix means --------------------------------------------------------

def test_basic_scanning_without_a_scan_starts_one_then_judges_it(capsys):
    clock = FakeClock()
    aws = (Aws().image().registry("BASIC").scan_error("ScanNotFoundException").start()
           .scan("IN_PROGRESS").scan("COMPLETE", findings=[], counts={}))
    assert aws.run(clock=clock) == 0
    assert clock.sleeps == [10, 10]
    assert verdict(capsys)["result"] == "passed"


def test_a_scan_already_under_way_is_not_started_again():
    # no rule scans on push (the repository's own scan-on-push setting may still have started one)
    aws = Aws().image().registry("BASIC").scan("IN_PROGRESS").scan("COMPLETE", findings=[], counts={})
    assert aws.run() == 0  # a start_image_scan call would be one the stub does not expect


def test_a_scan_on_push_rule_gets_time_to_start_its_scan_before_the_gate_starts_one():
    clock = FakeClock()
    rules = [{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}]}]
    aws = Aws().image().registry("BASIC", rules)
    for _ in range(6):  # 0 … 50 s: still inside the grace period
        aws.scan_error("ScanNotFoundException")
    aws.scan_error("ScanNotFoundException").start().scan("COMPLETE", findings=[], counts={})  # at 60 s
    assert aws.run(clock=clock) == 0
    assert clock.now == 70


def test_a_refused_start_waits_for_the_scan_that_already_exists(capsys):
    aws = (Aws().image().registry("BASIC").scan_error("ScanNotFoundException").start(error="LimitExceededException")
           .scan_error("ScanNotFoundException").scan("COMPLETE", findings=[], counts={}))
    assert aws.run() == 0
    out = capsys.readouterr().out
    assert '"step":"scan_exists"' in out and '"result":"passed"' in out


def test_a_basic_high_finding_blocks_when_nothing_can_tell_whether_a_fix_exists(capsys):
    aws = Aws().image().registry("BASIC").scan("COMPLETE", findings=[basic("CVE-2026-20", "HIGH")],
                                                counts={"HIGH": 1})
    assert aws.run() == 1
    line = verdict(capsys)
    assert line["blocking"][0].startswith("CVE-2026-20") and "no --local-image" in line["basic_fix_status"]


def apt(stdout, returncode=0):
    calls = []

    def run(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, returncode, stdout=stdout, stderr="")
    run.calls = calls
    return run


def test_a_basic_high_finding_passes_with_a_report_when_apt_has_nothing_left_to_upgrade(capsys):
    runner = apt("Reading package lists...\n0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n")
    aws = Aws().image().registry("BASIC").scan("COMPLETE", findings=[basic("CVE-2026-21", "HIGH")],
                                                counts={"HIGH": 1})
    assert aws.run(local_image="repo/duomfa:scan", runner=runner) == 0
    line = verdict(capsys)
    assert line["reported"][0].startswith("CVE-2026-21") and "fix available: NO" in line["reported"][0]
    (command,) = runner.calls
    assert command[:2] == ["docker", "run"] and "repo/duomfa:scan" in command


@pytest.mark.parametrize(("stdout", "returncode"), [
    ("Inst libc6 [2.36-9+deb12u7] (2.36-9+deb12u8 Debian-Security:12/stable-security [amd64])\n", 0),
    ("", 100),  # apt-get update failed: nothing known
])
def test_a_basic_high_finding_blocks_when_apt_has_an_upgrade_or_cannot_tell(capsys, stdout, returncode):
    aws = Aws().image().registry("BASIC").scan("COMPLETE", findings=[basic("CVE-2026-22", "HIGH")],
                                                counts={"HIGH": 1})
    assert aws.run(local_image="repo/duomfa:scan", runner=apt(stdout, returncode)) == 1


def test_pending_os_upgrades_counts_what_apt_would_install():
    output = "Inst a [1] (2 x)\nConf a (2 x)\nInst b [1] (2 x)\n"
    assert pending_os_upgrades("img", timeout=5, run=apt(output)) == 2
    assert pending_os_upgrades("img", timeout=5, run=apt(output, returncode=1)) is None

    def times_out(command, **kwargs):
        raise subprocess.TimeoutExpired(command, kwargs["timeout"])
    assert pending_os_upgrades("img", timeout=5, run=times_out) is None


# --- the registry's configuration and permissions -------------------------------------------------------------------

def test_enhanced_scanning_without_a_covering_rule_fails_at_once_with_the_fix(capsys):
    clock = FakeClock()
    other = [{"scanFrequency": "CONTINUOUS_SCAN",
              "repositoryFilters": [{"filter": "team-*", "filterType": "WILDCARD"}]}]
    aws = Aws().image().registry("ENHANCED", other)  # no scan call queued: any would fail the test
    assert aws.run(clock=clock) == 1
    assert clock.now == 0
    reason = verdict(capsys)["reason"]
    assert "no scanning rule selects the repository 'duomfa-proxy'" in reason
    assert "put-registry-scanning-configuration --scan-type ENHANCED" in reason and "--scan-type BASIC" in reason
    assert '{"filter":"team-*","filterType":"WILDCARD"}' in reason  # the existing rule is kept


def test_access_denied_reading_enhanced_findings_names_the_inspector_permission(capsys):
    aws = Aws().image().registry("ENHANCED", ENHANCED_RULES).scan_error("AccessDeniedException", "Access denied")
    assert aws.run() == 1
    reason = verdict(capsys)["reason"]
    assert reason.startswith("the build role was denied ecr:DescribeImageScanFindings")
    assert "inspector2:ListFindings on *" in reason and "grant it" in reason


def test_access_denied_on_inspector_coverage_names_the_permission(capsys):
    aws = Aws().image().registry("ENHANCED", ENHANCED_RULES).scan_error("ScanNotFoundException").coverage(
        error="AccessDeniedException")
    assert aws.run() == 1
    assert verdict(capsys)["reason"].startswith("the build role was denied inspector2:ListCoverage (on *); grant it")


def test_inspector_refusing_the_image_fails_at_once(capsys):
    clock = FakeClock()
    aws = Aws().image().registry("ENHANCED", ENHANCED_RULES).scan("PENDING").coverage([{
        "resourceType": "AWS_ECR_CONTAINER_IMAGE", "resourceId": f"repo/{REPOSITORY}/{DIGEST}",
        "accountId": "123456789012", "scanType": "PACKAGE",
        "scanStatus": {"statusCode": "INACTIVE", "reason": "UNSUPPORTED_OS"}}])
    assert aws.run(clock=clock) == 1
    assert clock.now == 0 and "UNSUPPORTED_OS" in verdict(capsys)["reason"]


def test_a_scan_that_never_completes_is_refused_at_the_deadline(capsys):
    clock = FakeClock()
    aws = Aws().image().registry("BASIC", [{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [
        {"filter": "duomfa-proxy", "filterType": "WILDCARD"}]}])
    for _ in range(4):  # at 0, 10, 20 and 25 s (the last wait is cut to the deadline)
        aws.scan("IN_PROGRESS")
    assert aws.run(timeout=25, clock=clock) == 1
    assert clock.sleeps == [10, 10, 5] and clock.now == 25
    assert "before the deadline (last: IN_PROGRESS)" in verdict(capsys)["reason"]


def test_a_scan_that_ends_without_findings_is_refused(capsys):
    aws = Aws().image().registry("BASIC").scan("UNSUPPORTED_IMAGE")
    assert aws.run() == 1
    assert "ended UNSUPPORTED_IMAGE" in verdict(capsys)["reason"]


def test_a_server_error_while_polling_is_waited_out(capsys):
    aws = (Aws().image().registry("ENHANCED", ENHANCED_RULES).scan_error("ServerException").coverage()
           .scan("ACTIVE", enhanced=[], counts={}))
    assert aws.run() == 0


# --- the manifest ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("media_type", ["application/vnd.oci.image.index.v1+json",
                                        "application/vnd.docker.distribution.manifest.list.v2+json"])
@pytest.mark.parametrize("mode", list(GateMode))
def test_a_manifest_list_is_refused_whatever_the_gate_mode(capsys, media_type, mode):
    aws = Aws().image(media_type)  # nothing else is asked: the scan does not matter
    assert aws.run(mode) == 1
    assert "not a single image manifest" in verdict(capsys)["reason"]


def test_an_oci_image_manifest_is_a_single_image(capsys):
    aws = Aws().image("application/vnd.oci.image.manifest.v1+json").registry("BASIC").scan(
        "COMPLETE", findings=[], counts={})
    assert aws.run() == 0


# --- pieces ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "selected"), [
    ("*", True), ("duomfa*", True), ("duomfa-proxy", True), ("proxy", True), ("*-proxy", True),
    ("duo*proxy", True), ("team-*", False), ("duomfa-proxy-2", False)])
def test_scanning_filters_are_read_leniently(pattern, selected):
    assert filter_selects(pattern, REPOSITORY) is selected


def test_the_fix_adds_the_repository_to_a_scan_on_push_rule_and_keeps_the_others():
    setup = image_gate.ScanningSetup("ENHANCED", (), (
        {"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": [{"filter": "a", "filterType": "WILDCARD"}]},
        {"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "b", "filterType": "WILDCARD"}]}))
    assert covering_rules(setup, REPOSITORY) == [
        {"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": [{"filter": "a", "filterType": "WILDCARD"}]},
        {"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "b", "filterType": "WILDCARD"},
                                                                 {"filter": REPOSITORY, "filterType": "WILDCARD"}]}]


def test_options_default_to_the_build_project_s_environment():
    options = parse_options(["--repository", "r", "--tag", "t"], {"SCAN_GATE": "Critical",
                                                                  "SCAN_TIMEOUT_SECONDS": "900"})
    assert (options.mode, options.timeout, options.local_image) == (GateMode.CRITICAL, 900.0, None)
    options = parse_options(["--repository", "r", "--tag", "t", "--gate", "Off"], {"SCAN_GATE": "Critical"})
    assert (options.mode, options.timeout) == (GateMode.OFF, 1200.0)
    assert parse_options(["--repository", "r", "--tag", "t"], {}).mode is GateMode.FIXABLE_CRITICAL_HIGH


@pytest.mark.parametrize("environ", [{"SCAN_GATE": "off"}, {"SCAN_GATE": "CriticalHigh"},
                                     {"SCAN_TIMEOUT_SECONDS": "soon"}, {"SCAN_TIMEOUT_SECONDS": "0"}])
def test_a_wrong_gate_mode_or_timeout_stops_the_build(environ, capsys):
    with pytest.raises(SystemExit) as stopped:
        parse_options(["--repository", "r", "--tag", "t"], environ)
    assert stopped.value.code == 2


def test_command_line_against_moto_starts_the_scan_and_refuses_a_basic_high_finding(monkeypatch, capsys):
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    with mock_aws():
        ecr = boto3.client("ecr")
        ecr.create_repository(repositoryName="duomfa")
        ecr.put_image(repositoryName="duomfa", imageTag="scan", imageManifest='{"schemaVersion": 2, "config": {}}',
                      imageManifestMediaType=DOCKER_V2)
        code = image_gate.main(["--repository", "duomfa", "--tag", "scan", "--timeout", "5"], environ={})
        scanned = ecr.describe_image_scan_findings(repositoryName="duomfa", imageId={"imageTag": "scan"})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # no rule scans on push: the gate started the scan; moto's scan reports a HIGH finding with no fix status
    assert [line.get("step") for line in lines][:2] == ["scanning", "scan_started"]
    assert scanned["imageScanStatus"]["status"] == "COMPLETE"
    assert code == 1 and lines[-1]["result"] == "refused" and lines[-1]["findings"] == {"HIGH": 1}
