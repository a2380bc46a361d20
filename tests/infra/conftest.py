"""The CDK tests' synthesized stacks, one of each per session (the helpers are in tests/cdk_synth.py)."""

from __future__ import annotations

import pytest

from cdk_synth import Synthesized, synthesize


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


@pytest.fixture(scope="session")
def catalog() -> Synthesized:
    from duomfa.infra.catalog import CatalogStack

    return synthesize(CatalogStack, "DuoMfaCatalog")
