"""Logical IDs that stay what they were when resources move into a new construct. CloudFormation replaces a resource
whose logical ID changes (for the DisableRadius custom resource that means a DisableRadius on the directory), so a
StableLogicalIdStack lets a construct added around deployed resources leave its id out of their logical IDs, and lets
a resource made by another construct's method keep the logical ID it had where it was made before."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from aws_cdk import CfnElement, Names, Stack
from aws_cdk import aws_lambda as lambda_
from constructs import IConstruct

# CDK's own scheme (makeUniqueId in aws-cdk-lib's core), which every other resource keeps: tests compare the two
HIDDEN_ID, HIDDEN_FROM_HUMAN_ID = "Default", "Resource"
HASH_LENGTH, MAX_HUMAN_LENGTH, MAX_ID_LENGTH = 8, 240, 255
# CDK's EventBridge target names its permission to invoke a function after the function's unique id (its path)
EVENT_RULE_PERMISSION = "AllowEventRule"


def make_unique_id(components: Sequence[str]) -> str:
    """CDK's logical ID of a resource at this path below its stack (or its unique id, with the stack's id first)."""
    components = [component for component in components if component != HIDDEN_ID]
    if len(components) == 1 and len(_alphanumeric(components[0])) <= MAX_ID_LENGTH:
        return _alphanumeric(components[0])  # a top-level resource keeps its name
    path_hash = hashlib.md5("/".join(components).encode("utf-8"), usedforsecurity=False).hexdigest()
    human: list[str] = []
    for component in components:
        if not human or not human[-1].endswith(component):  # "FooBar/Bar" reads FooBar
            human.append(component)
    readable = "".join(_alphanumeric(c) for c in human if c != HIDDEN_FROM_HUMAN_ID)
    return readable[:MAX_HUMAN_LENGTH] + path_hash[:HASH_LENGTH].upper()


def _alphanumeric(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", text)


class StableLogicalIdStack(Stack):
    """A Stack whose logical IDs follow leave_out_of_logical_ids and keep_logical_ids; anything else gets CDK's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._path = tuple(self.node.path.split("/"))
        # construct path below the stack -> (the construct, the path its logical IDs are made from; None: its parent's)
        self._stands_for: dict[tuple[str, ...], tuple[IConstruct, tuple[str, ...] | None]] = {}
        self._kept_unique_ids: dict[str, str] = {}

    def _allocate_logical_id(self, cfn_element: CfnElement) -> str:
        logical_id = make_unique_id(self.kept_path(cfn_element))
        # CDK asks again at every reference to the element, each time through jsii: once is enough
        cfn_element.override_logical_id(logical_id)
        return logical_id

    def kept_path(self, construct: IConstruct, *, renaming: bool = True) -> tuple[str, ...]:
        """The path below the stack that the construct's logical ID is made from; `renaming`: with the unique ids
        that its components name replaced by the kept ones."""
        path = self._path_below_stack(construct)
        kept: list[str] = []
        for depth, component in enumerate(path, start=1):
            if path[:depth] not in self._stands_for:
                kept.append(self._kept_component(component) if renaming else component)
            elif (stands_for := self._stands_for[path[:depth]][1]) is not None:
                kept = list(stands_for)
        return tuple(kept)

    def stand_for(self, construct: IConstruct, path: tuple[str, ...] | None) -> None:
        """Below `construct`, logical IDs are made from `path` in place of its own (None: its parent's)."""
        self._stands_for[self._path_below_stack(construct)] = (construct, path)
        self._kept_unique_ids.clear()
        for element in construct.node.find_all():  # any that have their logical ID already
            if isinstance(element, CfnElement):
                element.override_logical_id(make_unique_id(self.kept_path(element)))

    def _path_below_stack(self, construct: IConstruct) -> tuple[str, ...]:
        return tuple(construct.node.path.split("/"))[len(self._path):]

    def _kept_component(self, component: str) -> str:
        """A component that names another construct's unique id names its kept one."""
        if not component.startswith(EVENT_RULE_PERMISSION) or not self._stands_for:
            return component
        unique_id = component[len(EVENT_RULE_PERMISSION):]
        if unique_id not in self._kept_unique_ids:
            self._kept_unique_ids.update(self._moved_unique_ids())
            self._kept_unique_ids.setdefault(unique_id, unique_id)  # a construct that did not move
        return EVENT_RULE_PERMISSION + self._kept_unique_ids[unique_id]

    def _moved_unique_ids(self) -> dict[str, str]:
        """{unique id: kept unique id} of the functions below the constructs whose logical IDs are kept."""
        return {Names.unique_id(function): make_unique_id(self._path + self.kept_path(function, renaming=False))
                for marked, _ in self._stands_for.values() for function in marked.node.find_all()
                if isinstance(function, lambda_.FunctionBase)}


def leave_out_of_logical_ids(construct: IConstruct) -> None:
    """The construct's id is left out of the logical IDs below it: its resources keep the IDs they had as its
    parent's children. Call before adding children."""
    stack = Stack.of(construct)
    if isinstance(stack, StableLogicalIdStack):
        stack.stand_for(construct, None)


def keep_logical_ids(construct: IConstruct, *, parent: IConstruct, construct_id: str) -> None:
    """The construct's resources keep the logical IDs they had as `parent`'s child `construct_id`."""
    stack = Stack.of(construct)
    if isinstance(stack, StableLogicalIdStack):
        stack.stand_for(construct, (*stack.kept_path(parent), construct_id))
