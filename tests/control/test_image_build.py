"""The image build as CodeBuild runs it: buildspec.yml calls the scan gate with arguments it accepts, in the one build
phase, after the push and before any tag that deploys; and the Dockerfile's runtime stage upgrades Debian packages."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from duomfa.control.image_gate import GateMode, parse_options

ROOT = Path(__file__).resolve().parents[2]
GATE = "PYTHONPATH=src python3 -m duomfa.control.image_gate"
URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/duomfa-proxy"


@pytest.fixture(scope="module")
def buildspec():
    return yaml.safe_load((ROOT / "buildspec.yml").read_text())


def build_commands(buildspec) -> list[str]:
    return buildspec["phases"]["build"]["commands"]


def test_attestations_are_off_for_the_whole_build(buildspec):
    assert buildspec["env"]["variables"]["BUILDX_NO_DEFAULT_ATTESTATIONS"] == "1"


def test_the_gate_runs_in_the_build_phase_after_the_push_and_before_any_deploying_tag(buildspec):
    commands = build_commands(buildspec)
    (gate,) = [i for i, command in enumerate(commands) if command.startswith(GATE)]
    push = commands.index('docker push "$REPOSITORY_URI:scan"')
    first_tag = min(i for i, command in enumerate(commands) if command.startswith("docker tag"))
    assert push < gate < first_tag
    assert all(":scan" in command for command in commands[:gate] if "docker push" in command)
    # a failing command skips the rest of its phase, but a post_build phase would still run
    assert set(buildspec["phases"]) == {"install", "pre_build", "build"}
    assert not any("image_gate" in command for phase in ("install", "pre_build")
                   for command in buildspec["phases"][phase]["commands"])


def gate_arguments(buildspec, **environment) -> list[str]:
    """The gate's argv as bash expands the buildspec's command (the build project's variables as given)."""
    (command,) = [c for c in build_commands(buildspec) if c.startswith(GATE)]
    script = "printf '%s\\0'" + command[len(GATE):]
    variables = {**buildspec["env"]["variables"], "REPOSITORY_URI": URI, **environment}
    result = subprocess.run(["bash", "-c", script], env={"PATH": "/usr/bin:/bin", **variables}, capture_output=True,
                            text=True, check=True)
    return result.stdout.split("\0")[:-1]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize(("scan_gate", "mode"), [
    (None, GateMode.FIXABLE_CRITICAL_HIGH), ("Critical", GateMode.CRITICAL), ("Off", GateMode.OFF)])
def test_the_gate_command_passes_scan_gate_and_parses(buildspec, scan_gate, mode):
    environment = {"SCAN_GATE": scan_gate} if scan_gate else {}
    argv = gate_arguments(buildspec, **environment)
    options = parse_options(argv, {})  # nothing from the environment: the command line carries it all
    assert (options.repository, options.tag, options.mode) == ("duomfa-proxy", "scan", mode)
    assert options.timeout == float(buildspec["env"]["variables"]["SCAN_TIMEOUT_SECONDS"])
    assert options.local_image == f"{URI}:scan"


def test_the_gate_timeout_leaves_the_build_time_to_build_and_push():
    from duomfa.infra.image_pipeline import BUILD_TIMEOUT

    timeout = float(yaml.safe_load((ROOT / "buildspec.yml").read_text())["env"]["variables"]["SCAN_TIMEOUT_SECONDS"])
    assert 0 < timeout <= BUILD_TIMEOUT.to_seconds() - 600


def test_boto3_is_new_enough_to_parse_fix_availability(buildspec):
    (install,) = [c for c in buildspec["phases"]["install"]["commands"] if "boto3" in c]
    version = tuple(int(part) for part in re.search(r'boto3>=([0-9.]+)"', install)[1].split("."))
    assert version >= (1, 35, 21)


def runtime_stage() -> list[str]:
    """The last stage's instructions, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text()
    joined = re.sub(r"\s*\\\n\s*", " ", text)
    lines = [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    last_from = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    return lines[last_from:]


def test_the_runtime_stage_upgrades_debian_packages_before_dropping_root():
    stage = runtime_stage()
    (upgrade,) = [i for i, line in enumerate(stage) if "apt-get upgrade" in line]
    user = next(i for i, line in enumerate(stage) if line.startswith("USER "))
    assert upgrade < user
    command = stage[upgrade]
    assert re.search(r"apt-get update && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y && "
                     r"rm -rf /var/lib/apt/lists/\*$", command), command
    # non-interactive for that command only: the image's environment stays as it was
    assert not any(line.startswith("ENV") and "DEBIAN_FRONTEND" in line for line in stage)
