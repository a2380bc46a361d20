"""Helpers for the CDK tests: synthesize one stack with the cdk-nag packs applied, and read what they reported."""

from __future__ import annotations

from dataclasses import dataclass

import pytest  # noqa: E402
from aws_cdk import App, Aspects, Stack  # noqa: E402
from aws_cdk.assertions import Annotations, Match, Template  # noqa: E402
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks  # noqa: E402

NAG_PACKS = ("AwsSolutions-", "NIST.800.53.R5-")


@dataclass
class Synthesized:
    stack: Stack
    template: Template
    nag_errors: list[str]
    nag_warnings: list[str]

    @property
    def json(self) -> dict:
        return self.template.to_json()

    def resources(self, resource_type: str) -> dict[str, dict]:
        return self.template.find_resources(resource_type)

    def only(self, resource_type: str) -> dict:
        found = self.resources(resource_type)
        assert len(found) == 1, f"{len(found)} {resource_type}"
        return next(iter(found.values()))


def synthesize(stack_class, stack_id: str) -> Synthesized:
    """One synth of one variant with both cdk-nag packs, as the tests' module-scoped fixtures use it."""
    app = App(analytics_reporting=False, builtin_cloud_formation_validation=False)
    stack = stack_class(app, stack_id)
    Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    Aspects.of(app).add(NIST80053R5Checks(verbose=True))
    template = Template.from_stack(stack)
    annotations = Annotations.from_stack(stack)

    def messages(found) -> list[str]:
        return [f"{m.id}: {m.entry.data}" for m in found]

    pattern = Match.string_like_regexp(f"^({'|'.join(p.replace('.', '[.]') for p in NAG_PACKS)})")
    return Synthesized(stack, template, messages(annotations.find_error("*", pattern)),
                       messages(annotations.find_warning("*", pattern)))


def ref(name: str) -> dict:
    return {"Ref": name}


@pytest.fixture(scope="session")
def new_vpc() -> Synthesized:
    from duomfa.infra.stacks import NewVpcStack

    return synthesize(NewVpcStack, "DuoMfaNewVpc")


@pytest.fixture(scope="session")
def existing_vpc() -> Synthesized:
    from duomfa.infra.stacks import ExistingVpcStack

    return synthesize(ExistingVpcStack, "DuoMfaExistingVpc")


@pytest.fixture(params=["new_vpc", "existing_vpc"])
def variant(request) -> Synthesized:
    return request.getfixturevalue(request.param)


def statements(document: dict) -> list[dict]:
    return document["Statement"]


def principals(statement: dict, kind: str) -> list:
    value = statement.get("Principal", {}).get(kind, [])
    return value if isinstance(value, list) else [value]


@pytest.fixture(scope="session")
def catalog() -> Synthesized:
    from duomfa.infra.catalog import CatalogStack

    return synthesize(CatalogStack, "DuoMfaCatalog")
