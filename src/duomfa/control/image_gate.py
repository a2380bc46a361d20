"""The image pipeline's gate: wait for ECR's scan of a pushed image (basic or Inspector enhanced) and refuse the
image when it has findings of a blocking severity. Polls with a deadline instead of sleeping a fixed time."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from duomfa.control.inline_support import error_code, log

BLOCKING = ("CRITICAL", "HIGH")
READY = ("COMPLETE", "ACTIVE")  # ACTIVE: Inspector enhanced scanning, findings available and kept current
FAILED = ("FAILED", "UNSUPPORTED_IMAGE", "FINDINGS_UNAVAILABLE", "SCAN_ELIGIBILITY_EXPIRED")


class ScanFailed(Exception):
    """The scan could not give a verdict: the image must not be used."""


@dataclass(frozen=True)
class ScanResult:
    status: str
    severity_counts: dict[str, int]

    def blocking(self, severities: tuple[str, ...] = BLOCKING) -> dict[str, int]:
        return {level: count for level, count in self.severity_counts.items() if level in severities and count}


def wait_for_scan(ecr: Any, repository: str, tag: str, *, timeout: float, interval: float = 10.0,
                  sleep: Callable[[float], None] = time.sleep,
                  clock: Callable[[], float] = time.monotonic) -> ScanResult:
    deadline = clock() + timeout
    while True:
        try:
            answer = ecr.describe_image_scan_findings(repositoryName=repository, imageId={"imageTag": tag})
            status = answer.get("imageScanStatus", {}).get("status", "PENDING")
        except Exception as exc:
            if error_code(exc) != "ScanNotFoundException":
                raise
            status, answer = "PENDING", {}  # the scan has not started yet
        if status in READY:
            counts = answer.get("imageScanFindings", {}).get("findingSeverityCounts", {})
            return ScanResult(status, {str(k): int(v) for k, v in counts.items()})
        if status in FAILED:
            detail = answer.get("imageScanStatus", {}).get("description", "")
            raise ScanFailed(f"the scan of {repository}:{tag} ended {status}: {detail}")
        if clock() >= deadline:
            raise ScanFailed(f"no scan result for {repository}:{tag} within {timeout:g} s (last status {status})")
        sleep(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repository", required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--timeout", type=float, default=1200.0)
    parser.add_argument("--block", default=",".join(BLOCKING), help="severities that refuse the image")
    args = parser.parse_args(argv)
    import boto3

    try:
        result = wait_for_scan(boto3.client("ecr"), args.repository, args.tag, timeout=args.timeout)
    except ScanFailed as exc:
        log("image_gate", "ERROR", result="refused", reason=str(exc))
        return 1
    blocking = result.blocking(tuple(level.strip().upper() for level in args.block.split(",") if level.strip()))
    log("image_gate", "ERROR" if blocking else "INFO", result="refused" if blocking else "passed",
        status=result.status, findings=result.severity_counts)
    return 1 if blocking else 0


if __name__ == "__main__":
    sys.exit(main())
