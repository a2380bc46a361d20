"""The CDK tests' helpers: synthesize one stack with the cdk-nag packs applied, read what they reported, and read
the template's policies and its dashboard's body."""

from __future__ import annotations

import json
from dataclasses import dataclass

from aws_cdk import App, Aspects, Stack
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks

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


def statements(document: dict) -> list[dict]:
    return document["Statement"]


def principals(statement: dict, kind: str) -> list:
    value = statement.get("Principal", {}).get(kind, [])
    return value if isinstance(value, list) else [value]


def joined_json(value: dict | str) -> object:
    """A JSON document that CDK rendered as an Fn::Join of text and intrinsics (a dashboard body), parsed: each
    intrinsic that is a whole JSON string comes back as itself ({"Ref": ...}); one inside a longer string stays as
    a «n» marker in that string."""
    if isinstance(value, str):
        return json.loads(value)
    separator, parts = value["Fn::Join"]
    intrinsics: dict[str, object] = {}
    pieces = []
    for part in parts:
        if not isinstance(part, str):
            marker = f"«{len(intrinsics)}»"
            intrinsics[marker], part = part, marker
        pieces.append(part)
    text = separator.join(pieces)

    def restore(item: object) -> object:
        if isinstance(item, str):
            return intrinsics.get(item, item)
        if isinstance(item, list):
            return [restore(element) for element in item]
        if isinstance(item, dict):
            return {key: restore(element) for key, element in item.items()}
        return item

    return restore(json.loads(text))
