"""The image gate with moto's ECR and with botocore's Stubber for scan states moto does not produce."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from duomfa.control.image_gate import ScanFailed, ScanResult, main, wait_for_scan


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def stubbed_ecr(answers):
    ecr = boto3.client("ecr", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(ecr)
    for answer in answers:
        if isinstance(answer, str):
            stubber.add_client_error("describe_image_scan_findings", service_error_code=answer)
        else:
            stubber.add_response("describe_image_scan_findings", answer,
                                 {"repositoryName": "duomfa", "imageId": {"imageTag": "scan"}})
    stubber.activate()
    return ecr, stubber


def scan(status, counts=None):
    answer = {"repositoryName": "duomfa", "imageId": {"imageTag": "scan"}, "imageScanStatus": {"status": status}}
    if counts is not None:
        answer["imageScanFindings"] = {"findingSeverityCounts": counts}
    return answer


def test_waits_for_the_scan_to_start_and_finish_then_reports_counts():
    ecr, stubber = stubbed_ecr(["ScanNotFoundException", scan("IN_PROGRESS"), scan("COMPLETE", {"HIGH": 2, "LOW": 5})])
    clock = FakeClock()
    result = wait_for_scan(ecr, "duomfa", "scan", timeout=60, interval=5, sleep=clock.sleep, clock=clock)
    assert result == ScanResult("COMPLETE", {"HIGH": 2, "LOW": 5})
    assert result.blocking() == {"HIGH": 2}
    assert clock.now == 10
    stubber.assert_no_pending_responses()


def test_enhanced_scanning_active_status_counts_as_ready():
    ecr, _ = stubbed_ecr([scan("ACTIVE", {"MEDIUM": 1})])
    result = wait_for_scan(ecr, "duomfa", "scan", timeout=60)
    assert result.status == "ACTIVE" and result.blocking() == {}


def test_a_scan_that_never_finishes_is_refused_at_the_deadline():
    ecr, _ = stubbed_ecr([scan("IN_PROGRESS")] * 5)
    clock = FakeClock()
    with pytest.raises(ScanFailed, match="within 30 s"):
        wait_for_scan(ecr, "duomfa", "scan", timeout=30, interval=10, sleep=clock.sleep, clock=clock)


def test_a_failed_scan_is_refused():
    ecr, _ = stubbed_ecr([scan("UNSUPPORTED_IMAGE")])
    with pytest.raises(ScanFailed, match="UNSUPPORTED_IMAGE"):
        wait_for_scan(ecr, "duomfa", "scan", timeout=30)


def test_command_line_exit_code_follows_the_findings(monkeypatch, capsys):
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    with mock_aws():
        ecr = boto3.client("ecr")
        ecr.create_repository(repositoryName="duomfa", imageScanningConfiguration={"scanOnPush": True})
        ecr.put_image(repositoryName="duomfa", imageTag="scan", imageManifest='{"schemaVersion": 2, "config": {}}',
                      imageManifestMediaType="application/vnd.docker.distribution.manifest.v2+json")
        ecr.start_image_scan(repositoryName="duomfa", imageId={"imageTag": "scan"})
        code = main(["--repository", "duomfa", "--tag", "scan", "--timeout", "5"])
    output = capsys.readouterr().out
    # moto's scan reports a HIGH finding: the gate must refuse the image
    assert code == 1 and '"result":"refused"' in output
