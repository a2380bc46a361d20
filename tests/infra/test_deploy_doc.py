"""docs/deploy.md lists every parameter of every synthesized template, in the stacks that have it, with its default —
and nothing else — so the guide cannot drift from the templates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
STACK_LETTERS = {"existing_vpc": "E", "new_vpc": "N", "catalog": "C"}
ROW = re.compile(r"^\| `(?P<name>\w+)` \| (?P<stacks>[ECN ]+) \| (?P<default>[^|]+) \|")


def documented() -> dict[str, dict[str, str]]:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Parameters"):text.index("## Deploying with")]
    rows = {}
    for line in section.splitlines():
        match = ROW.match(line)
        if match:
            rows[match["name"]] = {"stacks": match["stacks"].split(), "default": match["default"].strip()}
    return rows


def expected_default(spec: dict) -> str:
    if "Default" not in spec:
        return "required"
    return "empty" if spec["Default"] == "" else f"`{spec['Default']}`"


@pytest.mark.parametrize("stack", sorted(STACK_LETTERS))
def test_every_parameter_is_documented_with_its_stack_and_default(request, stack):
    template = request.getfixturevalue(stack).json
    rows = documented()
    for name, spec in template["Parameters"].items():
        assert name in rows, f"{name} is missing from docs/deploy.md"
        assert STACK_LETTERS[stack] in rows[name]["stacks"], f"{name}: stack {STACK_LETTERS[stack]} not listed"
        assert rows[name]["default"] == expected_default(spec), name


def test_no_documented_parameter_is_missing_from_the_templates(new_vpc, existing_vpc, catalog):
    for name, row in documented().items():
        for letter in row["stacks"]:
            stack = {"E": existing_vpc, "N": new_vpc, "C": catalog}[letter]
            assert name in stack.json["Parameters"], f"docs/deploy.md lists {name} for stack {letter}"


def test_guide_covers_what_a_deployer_needs():
    text = DOC.read_text(encoding="utf-8")
    for heading in ("## Before you start", "## Deploying with `cdk deploy`", "## Deploying from the console",
                    "## Verifying a deployment", "## Monthly cost of the default deployment",
                    "## What differs from the AWS Partner Solution"):
        assert heading in text
    # every bug of the original that review found has a row saying how it is avoided
    assert [int(n) for n in re.findall(r"^\| (\d+) \|", text, re.MULTILINE)] == list(range(1, 18))
    assert "51,200 bytes" in text and "duomfa doctor --stack" in text


def test_every_stack_output_is_listed_under_verifying_a_deployment(new_vpc, existing_vpc):
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Verifying a deployment"):text.index("## Monthly cost")]
    listed = set(re.findall(r"`(\w+)`", section))
    for stack in (new_vpc, existing_vpc):
        assert set(stack.json["Outputs"]) <= listed, set(stack.json["Outputs"]) - listed


def test_operate_md_sends_readers_to_outputs_that_exist(existing_vpc):
    text = (DOC.parent / "operate.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(\w*(?:FunctionName|DashboardName))`", text))
    assert "DirectoryUpdaterFunctionName" in named and "DashboardName" in named
    assert named <= set(existing_vpc.json["Outputs"])
    assert "in the stack's resources" not in text  # the names are outputs now
