"""The moto world every control-plane test runs in."""

import pytest
from control_aws import REGION
from moto import mock_aws
from moto.moto_api import state_manager


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        # tasks stay in the state a test gives them (moto moves lastStatus on at every describe otherwise)
        state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 10**9})
        yield
        state_manager.unset_transition("ecs::task")
