"""One data directory: the MFA service's commands take the directory `duomfa up` printed as well as the service's
own; a --data that is neither names the one to pass; with no --data, both use the same default and point out data
left at the earlier default location."""

from __future__ import annotations

import pytest

from duomfa.mfaservice.datadir import (
    DataDirError,
    default_data_dir,
    default_stack_dir,
    earlier_default_stack_dir,
    open_data_dir,
)
from duomfa.mfaservice.store import Store


@pytest.fixture
def stack_dir(tmp_path):
    """A directory laid out as `duomfa up` leaves it: the MFA service's data in mfaservice/, the proxy's files."""
    root = tmp_path / "stack"
    store = Store(open_data_dir(root / "mfaservice").database)
    store.add_integration("vpn")
    store.close()
    (root / "radius-secret").write_text("s3cret\n")
    (root / "proxy.cfg").write_text("[main]\n")
    return root


def integrations(path):
    store = Store(open_data_dir(path).database)
    try:
        return [integration.name for integration in store.integrations()]
    finally:
        store.close()


def test_the_stack_directory_and_the_service_directory_open_the_same_data(stack_dir):
    assert open_data_dir(stack_dir).path == stack_dir / "mfaservice"
    assert integrations(stack_dir) == integrations(stack_dir / "mfaservice") == ["vpn"]


@pytest.mark.parametrize("inside", ["mfaservice/tls", "mfaservice/logs", "proxy.cfg", "radius-secret"])
def test_a_directory_or_file_inside_the_stack_names_the_stack_directory(stack_dir, inside):
    with pytest.raises(DataDirError) as refused:
        open_data_dir(stack_dir / inside, notify=pytest.fail)
    assert str(refused.value).endswith(f"pass --data {stack_dir}")


def test_the_directory_that_holds_stacks_names_them(stack_dir, tmp_path):
    other = tmp_path / "other"
    open_data_dir(other)  # an MFA service's own directory, made by `duomfa mfa serve --data`
    with pytest.raises(DataDirError) as refused:
        open_data_dir(tmp_path, notify=pytest.fail)
    assert "not a duomfa MFA service data directory" in str(refused.value)
    assert str(refused.value).endswith(f"pass --data {other} or --data {stack_dir}")


def test_an_unrelated_directory_says_what_data_takes(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DataDirError) as refused:
        open_data_dir(tmp_path, notify=pytest.fail)
    message = str(refused.value)
    assert "the directory `duomfa up` printed" in message and "duomfa-mfaservice.json" in message
    assert str(default_stack_dir()) in message
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_up_and_the_mfa_commands_share_one_default(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_stack_dir() == tmp_path / "duomfa"
    assert default_data_dir() == default_stack_dir() / "mfaservice"
    assert earlier_default_stack_dir() != default_stack_dir()


def test_data_at_the_earlier_default_location_is_pointed_out_by_the_mfa_commands(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    notices: list[str] = []
    open_data_dir(None, notify=notices.append)
    assert notices == []  # nothing there: nothing to say
    earlier = earlier_default_stack_dir()
    open_data_dir(earlier / "mfaservice")
    open_data_dir(None, notify=notices.append)
    assert len(notices) == 1 and f"pass --data {earlier}" in notices[0], notices
    open_data_dir(earlier, notify=pytest.fail)  # what the notice says to pass is accepted, and says nothing more
