"""The image pipeline's gate: the pushed image must be a single image manifest, and ECR's scan of it (basic, or
Inspector's enhanced scanning) must have no finding that the gate mode blocks. docs/scan-gate.md has the details."""

from __future__ import annotations

import argparse
import enum
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from duomfa.control.inline_support import error_code, log

EVENT = "image_gate"


class GateMode(enum.StrEnum):
    """What refuses the image (the stack's ScanGate parameter)."""

    FIXABLE_CRITICAL_HIGH = "FixableCriticalHigh"  # CRITICAL or HIGH findings that have a fix available
    CRITICAL = "Critical"  # any CRITICAL finding, fixable or not
    OFF = "Off"  # nothing: the scan is waited for and reported only


DEFAULT_TIMEOUT = 1200.0
POLL_INTERVAL = 10.0
START_GRACE = 60.0  # how long a scan on push may take to show up before the gate starts one itself (basic scanning)
PAGE_SIZE = 1000  # DescribeImageScanFindings' largest page
MAX_PAGES = 50
LISTED_IN_LOG = 40  # findings named in the verdict's log line, per list

SERIOUS = ("CRITICAL", "HIGH")
FIXABLE = frozenset({"YES", "PARTIAL", "UNKNOWN"})  # PARTIAL: some of the finding's packages have a fixed version
INACTIVE_FINDING = frozenset({"SUPPRESSED", "CLOSED"})  # Inspector: an admin's suppression rule, or fixed since

# ECR's ImageScanStatus. ACTIVE: enhanced scanning has findings and keeps them current. A status in neither set is
# waited on, so that a new in-progress state does not refuse images; the deadline still ends the wait.
READY = frozenset({"COMPLETE", "ACTIVE"})
ENDED = frozenset({"FAILED", "UNSUPPORTED_IMAGE", "FINDINGS_UNAVAILABLE", "SCAN_ELIGIBILITY_EXPIRED",
                   "LIMIT_EXCEEDED", "IMAGE_ARCHIVED", "IMAGE_SIZE_EXCEEDED"})
# Inspector coverage reasons that mean this image will not be scanned however long the gate waits
NOT_SCANNING = frozenset({"UNSUPPORTED_OS", "UNSUPPORTED_MEDIA_TYPE", "IMAGE_SIZE_EXCEEDED", "SCAN_ELIGIBILITY_EXPIRED",
                          "SCAN_FREQUENCY_MANUAL", "ACCESS_DENIED", "ACCESS_DENIED_TO_ENCRYPTION_KEY",
                          "IMAGE_ARCHIVED"})
ENHANCED_FREQUENCIES = frozenset({"SCAN_ON_PUSH", "CONTINUOUS_SCAN"})

# A container-image Lambda accepts one image manifest, never a list or index (what BuildKit's default attestations
# turn a single-platform image into).
SINGLE_IMAGE = frozenset({"application/vnd.docker.distribution.manifest.v2+json",
                          "application/vnd.oci.image.manifest.v1+json"})

ACCESS_DENIED = frozenset({"AccessDeniedException", "AccessDenied"})
TRANSIENT = frozenset({"ServerException", "InternalServerException", "ThrottlingException", "ServiceUnavailable",
                       "EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError"})

# what the build role needs for a call, where the action alone does not say it
ON_REPOSITORY = "on the repository"
FINDINGS_SCOPE = ("on the repository; under enhanced scanning also inspector2:ListFindings on *, since ECR reads the "
                  "findings from Inspector as the caller")


class GateError(Exception):
    """The gate cannot approve the image; the message says why and what to do."""


class NotSingleImage(GateError):
    """The pushed tag is a manifest list or an OCI index (or not an image): enforced whatever the gate mode."""


class ScanFailed(GateError):
    """The scan ended without findings, or none came before the deadline."""


class NotCovered(GateError):
    """Enhanced scanning, and no registry scanning rule selects the repository: no scan will ever come."""


class MissingPermission(GateError):
    """An AWS call was denied: the message names the IAM action the build role lacks."""


class AwsError(GateError):
    """Any other failed AWS call; `code` is its error code, for the callers that expect some."""

    def __init__(self, action: str, exc: Exception):
        self.code = error_code(exc)
        super().__init__(f"{action} failed: {exc}")


@dataclass(frozen=True)
class Deadline:
    """One deadline for the whole gate: every wait is bounded by what is left of --timeout."""

    at: float
    clock: Callable[[], float]

    def remaining(self) -> float:
        return max(0.0, self.at - self.clock())

    def passed(self) -> bool:
        return self.clock() >= self.at


@dataclass(frozen=True)
class ScanningSetup:
    """The registry's scanning configuration, as it applies to one repository."""

    scan_type: str  # BASIC or ENHANCED
    frequencies: tuple[str, ...]  # of the rules whose filters select the repository
    rules: tuple[Mapping[str, Any], ...]  # every rule as read, to print a command that keeps them

    @property
    def enhanced(self) -> bool:
        return self.scan_type == "ENHANCED"

    @property
    def covered(self) -> bool:
        """Whether ECR scans the repository's images by itself (on push, or continuously)."""
        if self.enhanced:
            return bool(ENHANCED_FREQUENCIES.intersection(self.frequencies))
        return "SCAN_ON_PUSH" in self.frequencies


@dataclass(frozen=True)
class Finding:
    name: str
    severity: str
    package: str  # "name version", or names, or "" when the scan does not say
    fix: str  # YES, NO, PARTIAL, or UNKNOWN when the scan does not say
    kind: str  # basic, enhanced, or unlisted (counted by the scan but missing from its list)
    status: str = "ACTIVE"

    @property
    def fixable(self) -> bool:
        return self.fix in FIXABLE

    def describe(self) -> str:
        package = f" in {self.package}" if self.package else ""
        return f"{self.name} ({self.severity}{package}, fix available: {self.fix})"


@dataclass(frozen=True)
class ScanResult:
    status: str
    severity_counts: dict[str, int]
    findings: tuple[Finding, ...]

    def active(self) -> list[Finding]:
        """The findings that count, with one placeholder for each CRITICAL or HIGH finding the scan counted but did
        not list (its fix status is unknown, so it is treated as fixable)."""
        listed = [f for f in self.findings if f.status not in INACTIVE_FINDING]
        for severity in SERIOUS:
            missing = self.severity_counts.get(severity, 0) - sum(f.severity == severity for f in self.findings)
            listed += [Finding(f"a {severity} finding the scan counted but did not list", severity, "", "UNKNOWN",
                               "unlisted")] * max(0, missing)
        return listed

    def with_os_packages_current(self) -> ScanResult:
        """Basic findings (OS packages only) whose fix status was unknown, once the image is shown to have no Debian
        package with an upgrade pending: no version update can fix them yet."""
        return replace(self, findings=tuple(replace(f, fix="NO") if f.kind == "basic" and f.fix == "UNKNOWN" else f
                                            for f in self.findings))


@dataclass(frozen=True)
class Verdict:
    refused: bool
    blocking: tuple[Finding, ...]
    reported: tuple[Finding, ...]  # CRITICAL or HIGH findings the mode lets through


# --- the pushed image -----------------------------------------------------------------------------------------------

def call(method: Callable[..., Any], action: str, scope: str, **params: Any) -> Any:
    """An AWS call whose failure is a GateError: an AccessDenied names the permission the build role needs."""
    try:
        return method(**params)
    except AssertionError:  # botocore's Stubber in tests: a call nobody expected
        raise
    except Exception as exc:
        if not (hasattr(exc, "response") or type(exc).__module__.startswith("botocore")):
            raise
        if error_code(exc) in ACCESS_DENIED:
            raise MissingPermission(f"the build role was denied {action} ({scope}); grant it. AWS said: {exc}") from exc
        raise AwsError(action, exc) from exc


def check_single_image(ecr: Any, repository: str, tag: str) -> str:
    """The digest of repository:tag, once it is known to be one image manifest. DescribeImages gives the media type
    as pushed; BatchGetImage would negotiate it with the accepted types, and could convert it."""
    try:
        answer = call(ecr.describe_images, "ecr:DescribeImages", ON_REPOSITORY, repositoryName=repository,
                      imageIds=[{"imageTag": tag}])
    except AwsError as exc:
        if exc.code in ("ImageNotFoundException", "RepositoryNotFoundException"):
            raise GateError(f"{repository}:{tag} was not found: was it pushed? ({exc})") from exc
        raise
    details = answer.get("imageDetails", [])
    if len(details) != 1:
        raise GateError(f"ECR describes {len(details)} images for {repository}:{tag}")
    detail = details[0]
    media_type = detail.get("imageManifestMediaType", "")
    if media_type not in SINGLE_IMAGE:
        raise NotSingleImage(
            f"{repository}:{tag} is {media_type or 'of no known media type'}, not a single image manifest: a "
            "container-image Lambda refuses manifest lists and OCI indexes. Build with "
            "BUILDX_NO_DEFAULT_ATTESTATIONS=1 (or --provenance=false --sbom=false) for one platform.")
    return str(detail["imageDigest"])


# --- the registry's scanning configuration --------------------------------------------------------------------------

def filter_selects(pattern: str, repository: str) -> bool:
    """Whether a WILDCARD scanning filter selects the repository. Read leniently — a filter matches wherever it occurs
    in the name, '*' standing for any characters — since the API reference does not spell the rule out, and a gate
    that wrongly calls a repository uncovered fails a build that would have been scanned."""
    return re.search(".*".join(re.escape(part) for part in pattern.split("*")), repository) is not None


def read_scanning_setup(ecr: Any, repository: str) -> ScanningSetup:
    answer = call(ecr.get_registry_scanning_configuration, "ecr:GetRegistryScanningConfiguration", "on *")
    configuration = answer.get("scanningConfiguration", {})
    rules = tuple(configuration.get("rules", []))
    frequencies = tuple(str(rule.get("scanFrequency", "")) for rule in rules
                        if any(filter_selects(str(f.get("filter", "")), repository)
                               for f in rule.get("repositoryFilters", [])))
    # no configuration at all is basic scanning, ECR's default
    return ScanningSetup(str(configuration.get("scanType") or "BASIC"), frequencies, rules)


def covering_rules(setup: ScanningSetup, repository: str) -> list[dict[str, Any]]:
    """The registry's rules with the repository added to a scan-on-push rule (PutRegistryScanningConfiguration
    replaces them all, so the command must repeat the others)."""
    added = {"filter": repository, "filterType": "WILDCARD"}
    rules: list[dict[str, Any]] = []
    for rule in setup.rules:
        filters = list(rule.get("repositoryFilters", []))
        if rule.get("scanFrequency") == "SCAN_ON_PUSH" and added not in filters:
            filters.append(added)
        rules.append({"scanFrequency": rule.get("scanFrequency"), "repositoryFilters": filters})
    if not any(rule["scanFrequency"] == "SCAN_ON_PUSH" for rule in rules):
        rules.append({"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [added]})
    return rules


def not_covered(setup: ScanningSetup, repository: str) -> NotCovered:
    rules = json.dumps(covering_rules(setup, repository), separators=(",", ":"))
    return NotCovered(
        f"the registry uses enhanced scanning (Amazon Inspector), and no scanning rule selects the repository "
        f"{repository!r}: Inspector will never scan this image. Either add the repository to a rule — ECR console, "
        f"Private registry, Features & Settings, Scanning, enhanced scanning filters; or "
        f"`aws ecr put-registry-scanning-configuration --scan-type ENHANCED --rules '{rules}'` (the registry's "
        "current rules plus this repository) — or switch the registry to basic scanning: "
        "`aws ecr put-registry-scanning-configuration --scan-type BASIC`. Then run the pipeline again.")


# --- the scan --------------------------------------------------------------------------------------------------------

def basic_finding(raw: Mapping[str, Any]) -> Finding:
    # basic findings carry only free-form attributes (package_name, package_version, CVSS scores): no fix status
    attributes = {str(a.get("key")): str(a.get("value", "")) for a in raw.get("attributes", [])}
    package = " ".join(filter(None, (attributes.get("package_name"), attributes.get("package_version"))))
    return Finding(str(raw.get("name", "?")), str(raw.get("severity", "UNDEFINED")), package, "UNKNOWN", "basic")


def enhanced_finding(raw: Mapping[str, Any]) -> Finding:
    details = raw.get("packageVulnerabilityDetails", {})
    package = ", ".join(" ".join(filter(None, (str(p.get("name", "")), str(p.get("version", "")))))
                        for p in details.get("vulnerablePackages", []))
    name = details.get("vulnerabilityId") or raw.get("title") or raw.get("findingArn") or "?"
    # an older botocore drops fixAvailable while parsing: unknown then, which blocks
    return Finding(str(name), str(raw.get("severity", "UNTRIAGED")), package, str(raw.get("fixAvailable") or "UNKNOWN"),
                   "enhanced", str(raw.get("status") or "ACTIVE"))


def read_findings(ecr: Any, repository: str, digest: str, first: Mapping[str, Any],
                  deadline: Deadline) -> ScanResult:
    """Every page of a ready scan's findings."""
    scan = first.get("imageScanFindings", {})
    counts = {str(k): int(v) for k, v in scan.get("findingSeverityCounts", {}).items()}
    raw_basic, raw_enhanced = list(scan.get("findings", [])), list(scan.get("enhancedFindings", []))
    token, pages = first.get("nextToken"), 1
    while token:
        if deadline.passed() or pages >= MAX_PAGES:
            raise ScanFailed(f"could not read all the findings of {repository}@{digest} ({pages} pages) in time")
        page = call(ecr.describe_image_scan_findings, "ecr:DescribeImageScanFindings", FINDINGS_SCOPE,
                    repositoryName=repository, imageId={"imageDigest": digest}, maxResults=PAGE_SIZE, nextToken=token)
        raw_basic += page.get("imageScanFindings", {}).get("findings", [])
        raw_enhanced += page.get("imageScanFindings", {}).get("enhancedFindings", [])
        token, pages = page.get("nextToken"), pages + 1
    findings = tuple([basic_finding(f) for f in raw_basic] + [enhanced_finding(f) for f in raw_enhanced])
    return ScanResult(str(first.get("imageScanStatus", {}).get("status")), counts, findings)


def start_scan(ecr: Any, repository: str, digest: str) -> None:
    """Basic scanning: ask for the scan no rule started. ECR allows one per image per 24 hours, scan on push
    included, so a refusal means a scan exists or is coming: wait for it."""
    try:
        call(ecr.start_image_scan, "ecr:StartImageScan", ON_REPOSITORY, repositoryName=repository,
             imageId={"imageDigest": digest})
        log(EVENT, step="scan_started", image=f"{repository}@{digest}")
    except AwsError as exc:
        if exc.code == "LimitExceededException":
            log(EVENT, step="scan_exists", image=f"{repository}@{digest}",
                reason="ECR allows one basic scan per image per 24 hours; waiting for the one that exists")
        elif exc.code == "UnsupportedImageTypeException":
            raise ScanFailed(f"ECR cannot scan {repository}@{digest}: {exc}") from exc
        else:
            raise


def check_coverage(inspector: Any, repository: str, tag: str) -> None:
    """Enhanced scanning: fail now when Inspector says it will not scan the image, rather than at the deadline."""
    answer = call(inspector.list_coverage, "inspector2:ListCoverage", "on *", maxResults=10, filterCriteria={
        "resourceType": [{"comparison": "EQUALS", "value": "AWS_ECR_CONTAINER_IMAGE"}],
        "ecrRepositoryName": [{"comparison": "EQUALS", "value": repository}],
        "ecrImageTags": [{"comparison": "EQUALS", "value": tag}]})
    for resource in answer.get("coveredResources", []):
        status = resource.get("scanStatus", {})
        if status.get("statusCode") == "INACTIVE" and status.get("reason") in NOT_SCANNING:
            raise ScanFailed(f"Amazon Inspector will not scan {repository}:{tag}: {status['reason']}")


def wait_for_scan(ecr: Any, repository: str, tag: str, digest: str, setup: ScanningSetup, deadline: Deadline, *,
                  sleep: Callable[[float], None], inspector: Any = None, interval: float = POLL_INTERVAL,
                  start_grace: float = START_GRACE) -> ScanResult:
    """Poll the scan of repository@digest until it is ready, ends without findings, or the deadline passes. Under
    basic scanning, start the scan if none appears (at once when no rule scans the repository on push)."""
    start_at = deadline.clock() + (start_grace if setup.covered else 0.0)
    scan_requested = False
    last = "no scan yet"
    while True:
        answer: Mapping[str, Any] | None = None
        try:
            answer = call(ecr.describe_image_scan_findings, "ecr:DescribeImageScanFindings", FINDINGS_SCOPE,
                          repositoryName=repository, imageId={"imageDigest": digest}, maxResults=PAGE_SIZE)
        except AwsError as exc:
            if exc.code not in ("ScanNotFoundException", *TRANSIENT):
                raise
            last = "no scan yet" if exc.code == "ScanNotFoundException" else f"{exc.code} from ECR"
        if answer is not None:
            status = str(answer.get("imageScanStatus", {}).get("status", "PENDING"))
            last = status
            if status in READY:
                return read_findings(ecr, repository, digest, answer, deadline)
            if status in ENDED:
                detail = answer.get("imageScanStatus", {}).get("description", "")
                raise ScanFailed(f"the scan of {repository}@{digest} ended {status}: {detail}")
        if setup.enhanced:
            if inspector is not None:
                check_coverage(inspector, repository, tag)
        elif answer is None and not scan_requested and deadline.clock() >= start_at:
            scan_requested = True
            start_scan(ecr, repository, digest)
        if deadline.passed():
            raise ScanFailed(f"no scan result for {repository}@{digest} before the deadline (last: {last})")
        sleep(min(interval, deadline.remaining()))


# --- whether a fix exists, under basic scanning ---------------------------------------------------------------------

Runner = Callable[..., "subprocess.CompletedProcess[str]"]
# In the built image, as root: refresh the package lists from the image's own apt sources (failing on any error,
# so that empty lists never read as "nothing to upgrade"), then simulate a full upgrade.
APT_CHECK = ("apt-get update -qq --error-on=any >/dev/null && ls /var/lib/apt/lists | grep -q _Packages "
             "&& apt-get --simulate dist-upgrade")


def pending_os_upgrades(image: str, *, timeout: float, run: Runner = subprocess.run) -> int | None:
    """How many Debian packages in the local image have a newer version in its apt sources; None if apt could not
    tell. Zero means no finding on an OS package can be fixed by a version update yet."""
    command = ["docker", "run", "--rm", "--user", "0:0", "--entrypoint", "/bin/sh", image, "-c", APT_CHECK]
    try:
        completed = run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if completed.returncode != 0:
        return None
    return sum(line.startswith("Inst ") for line in completed.stdout.splitlines())


# --- the decision ----------------------------------------------------------------------------------------------------

def decide(result: ScanResult, mode: GateMode) -> Verdict:
    blocking: list[Finding] = []
    reported: list[Finding] = []
    for finding in result.active():
        if finding.severity not in SERIOUS:
            continue
        blocks = (mode is GateMode.CRITICAL and finding.severity == "CRITICAL") or (
            mode is GateMode.FIXABLE_CRITICAL_HIGH and finding.fixable)
        (blocking if blocks else reported).append(finding)
    return Verdict(bool(blocking), tuple(blocking), tuple(reported))


def named(findings: Sequence[Finding]) -> list[str]:
    shown = [f.describe() for f in findings[:LISTED_IN_LOG]]
    return shown + ([f"... and {len(findings) - LISTED_IN_LOG} more"] if len(findings) > LISTED_IN_LOG else [])


def settle_basic_fix_status(result: ScanResult, local_image: str | None, deadline: Deadline,
                            run: Runner) -> tuple[ScanResult, str]:
    """Basic findings say nothing of fixes: they stay "fixable" (blocking) unless apt, in the image as built, has
    nothing left to upgrade. Returns the result and what was found, for the log."""
    if local_image is None:
        return result, "unknown: no --local-image to check with apt, so treated as fixable"
    pending = pending_os_upgrades(local_image, timeout=max(1.0, min(300.0, deadline.remaining())), run=run)
    if pending is None:
        return result, "unknown: apt in the image could not tell, so treated as fixable"
    if pending:
        return result, f"{pending} Debian package upgrades pending in the image, so treated as fixable"
    return result.with_os_packages_current(), "no Debian package upgrade pending in the image: not fixable yet"


def judge(ecr: Any, repository: str, tag: str, digest: str, mode: GateMode, deadline: Deadline, *,
          inspector_factory: Callable[[], Any], sleep: Callable[[float], None], local_image: str | None,
          run: Runner) -> tuple[ScanningSetup, ScanResult, Verdict, str | None]:
    setup = read_scanning_setup(ecr, repository)
    log(EVENT, step="scanning", gate=str(mode), image=f"{repository}@{digest}", scan_type=setup.scan_type,
        rules=list(setup.frequencies), seconds_left=round(deadline.remaining()))
    if setup.enhanced and not setup.covered:
        raise not_covered(setup, repository)
    inspector = inspector_factory() if setup.enhanced else None
    result = wait_for_scan(ecr, repository, tag, digest, setup, deadline, sleep=sleep, inspector=inspector)
    fix_status = None
    if mode is GateMode.FIXABLE_CRITICAL_HIGH and any(f.kind == "basic" for f in decide(result, mode).blocking):
        result, fix_status = settle_basic_fix_status(result, local_image, deadline, run)
    return setup, result, decide(result, mode), fix_status


def run_gate(ecr: Any, repository: str, tag: str, mode: GateMode, *, timeout: float,
             inspector_factory: Callable[[], Any], clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep, local_image: str | None = None,
             run: Runner = subprocess.run) -> int:
    """The whole gate; its exit status (0: the image may be tagged and deployed). The outcome is one log line."""
    deadline = Deadline(clock() + timeout, clock)
    try:
        digest = check_single_image(ecr, repository, tag)
    except GateError as exc:  # a manifest list breaks the Lambdas whatever the gate mode
        log(EVENT, "ERROR", result="refused", gate=str(mode), image=f"{repository}:{tag}", reason=str(exc))
        return 1
    image = f"{repository}@{digest}"
    try:
        setup, result, verdict, fix_status = judge(ecr, repository, tag, digest, mode, deadline,
                                                   inspector_factory=inspector_factory, sleep=sleep,
                                                   local_image=local_image, run=run)
    except GateError as exc:
        if mode is GateMode.OFF:
            log(EVENT, "WARNING", result="passed", gate=str(mode), image=image, reason=str(exc),
                warning="THE SCAN GATE IS OFF: this image was not judged on its scan")
            return 0
        log(EVENT, "ERROR", result="refused", gate=str(mode), image=image, reason=str(exc))
        return 1
    fields: dict[str, Any] = {"gate": str(mode), "image": image, "scan_type": setup.scan_type,
                              "status": result.status, "findings": result.severity_counts,
                              "blocking": named(verdict.blocking), "reported": named(verdict.reported)}
    if fix_status:
        fields["basic_fix_status"] = fix_status
    if mode is GateMode.OFF:
        log(EVENT, "WARNING", result="passed", warning="THE SCAN GATE IS OFF: findings are reported, none blocks",
            **fields)
        return 0
    if verdict.refused:
        log(EVENT, "ERROR", result="refused", reason=f"{len(verdict.blocking)} findings that ScanGate {mode} blocks",
            **fields)
        return 1
    log(EVENT, result="passed", **fields)
    return 0


# --- the command ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Options:
    repository: str
    tag: str
    mode: GateMode
    timeout: float
    local_image: str | None


def parse_options(argv: Sequence[str] | None, environ: Mapping[str, str]) -> Options:
    """The command line, with SCAN_GATE and SCAN_TIMEOUT_SECONDS as defaults (the build project sets them)."""
    parser = argparse.ArgumentParser(prog="python -m duomfa.control.image_gate", description=__doc__)
    parser.add_argument("--repository", required=True, help="the ECR repository's name")
    parser.add_argument("--tag", required=True, help="the pushed tag to judge")
    parser.add_argument("--gate", default=environ.get("SCAN_GATE") or GateMode.FIXABLE_CRITICAL_HIGH.value,
                        help=f"{' | '.join(GateMode)} (default: $SCAN_GATE, else {GateMode.FIXABLE_CRITICAL_HIGH})")
    parser.add_argument("--timeout", default=environ.get("SCAN_TIMEOUT_SECONDS") or str(DEFAULT_TIMEOUT),
                        help="seconds for the whole gate (default: $SCAN_TIMEOUT_SECONDS, else 1200)")
    parser.add_argument("--local-image", help="the image as built locally, for the apt check under basic scanning")
    args = parser.parse_args(argv)
    # checked here, not with choices/type: argparse does not check defaults, and these come from the environment
    try:
        mode = GateMode(args.gate)
    except ValueError:
        parser.error(f"--gate/SCAN_GATE must be one of {', '.join(GateMode)}, not {args.gate!r}")
    try:
        timeout = float(args.timeout)
    except ValueError:
        timeout = 0.0
    if not timeout > 0:
        parser.error(f"--timeout/SCAN_TIMEOUT_SECONDS must be a positive number of seconds, not {args.timeout!r}")
    return Options(args.repository, args.tag, mode, timeout, args.local_image or None)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    options = parse_options(argv, environ)
    import boto3
    from botocore.config import Config

    # each call bounded too: connection and read timeouts, a few retries of throttling and server errors
    config = Config(connect_timeout=10, read_timeout=30, retries={"mode": "standard", "max_attempts": 5})
    return run_gate(boto3.client("ecr", config=config), options.repository, options.tag, options.mode,
                    timeout=options.timeout, inspector_factory=lambda: boto3.client("inspector2", config=config),
                    local_image=options.local_image)


if __name__ == "__main__":
    sys.exit(main())
