"""The directory updater and the delete-time custom resource.

moto has no Directory Service RADIUS calls (enable/update/disable_radius raise NotImplementedError, and
describe_directories never reports RadiusSettings/RadiusStatus), so those calls go through botocore's Stubber on a
real `ds` client: parameter names, types and the response shapes are checked against the service model. Secrets
Manager, SSM and SNS are moto's."""

from __future__ import annotations

import contextlib
import hashlib
import json

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from control_aws import REGION, FakeClock, client, make_secret, stages
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from duomfa.control import directory
from duomfa.control.directory import (
    DirectoryUpdateFailed,
    DirectoryUpdateTimedOut,
    UpdaterSettings,
    disable_radius_on_delete,
    retire_previous,
    run,
)
from duomfa.proxy import secrets_source

DIRECTORY_ID = "d-1234567890"
ADDRESSES = "/duomfa/proxy-addresses"
STATE = "/duomfa/directory-radius-state"
SHARED_SECRET = "first-shared-secret-0123456789"
NOW = 1_800_000_000.0




class World:
    def __init__(self):
        self.secret_arn = make_secret({"radius_secret": SHARED_SECRET, "ikey": "DI" + "A" * 18})
        self.topic_arn = client("sns").create_topic(Name="duomfa-admins")["TopicArn"]
        client("ssm").put_parameter(Name=ADDRESSES, Value="default", Type="String")  # the stack's seeds
        client("ssm").put_parameter(Name=STATE, Value="none", Type="String")
        self.ds = client("ds")  # a real client; the Stubber answers for Directory Service
        self.stubber = Stubber(self.ds)
        self.clock = FakeClock()

    def settings(self, **overrides):
        values = dict(directory_id=DIRECTORY_ID, secret_arn=self.secret_arn, address_parameter=ADDRESSES,
                      state_parameter=STATE, topic_arn=self.topic_arn, deadline_seconds=600, secret_settle_seconds=0)
        return UpdaterSettings(**(values | overrides))

    def addresses(self, *addresses):
        client("ssm").put_parameter(Name=ADDRESSES, Overwrite=True, Type="String",
                                    Value=json.dumps({"addresses": list(addresses), "port": 1812}))

    def rotate(self, shared_secret):
        client("secretsmanager").put_secret_value(SecretId=self.secret_arn,
                                                  SecretString=json.dumps({"radius_secret": shared_secret}))

    def version(self, stage="AWSCURRENT"):
        return next(v for v, labels in stages(self.secret_arn).items() if stage in labels)

    # what Directory Service answers -------------------------------------------------------------------------

    def describe(self, status=None, servers=(), port=1812, timeout=30, retries=2, controllers=()):
        description = {"DirectoryId": DIRECTORY_ID, "Name": "corp.example.com", "Type": "MicrosoftAD",
                       "Stage": "Active"}
        if controllers:
            description["DnsIpAddrs"] = list(controllers)
        if status is not None:
            description["RadiusStatus"] = status
            description["RadiusSettings"] = {
                "RadiusServers": list(servers), "RadiusPort": port, "RadiusTimeout": timeout,
                "RadiusRetries": retries, "AuthenticationProtocol": "PAP", "DisplayLabel": "duomfa",
                "UseSameUsername": True}
        self.stubber.add_response("describe_directories", {"DirectoryDescriptions": [description]},
                                  {"DirectoryIds": [DIRECTORY_ID]})

    def expect(self, operation, servers, shared_secret=SHARED_SECRET, port=1812, timeout=30, retries=2, error=None):
        expected = {"DirectoryId": DIRECTORY_ID, "RadiusSettings": {
            "RadiusServers": list(servers), "RadiusPort": port, "RadiusTimeout": timeout, "RadiusRetries": retries,
            "SharedSecret": shared_secret, "AuthenticationProtocol": "PAP", "DisplayLabel": "duomfa",
            "UseSameUsername": True}}
        if error:
            self.stubber.add_client_error(operation, service_error_code=error, expected_params=expected)
        else:
            self.stubber.add_response(operation, {}, expected)

    def run(self, **overrides):
        with self.stubber:
            outcome = run(ds=self.ds, ssm=client("ssm"), secretsmanager=client("secretsmanager"), sns=client("sns"),
                          settings=self.settings(**overrides), clock=self.clock, sleep=self.clock.sleep,
                          now=lambda: NOW)
        self.stubber.assert_no_pending_responses()
        return outcome

    def state(self):
        return json.loads(client("ssm").get_parameter(Name=STATE)["Parameter"]["Value"])

    def notices(self):
        topic = sns_backends[DEFAULT_ACCOUNT_ID][REGION].topics[self.topic_arn]
        return [(subject, message) for _, message, subject, _, _ in topic.sent_notifications]

    def retired_tag(self):
        tags = client("secretsmanager").describe_secret(SecretId=self.secret_arn).get("Tags", [])
        return next((t["Value"] for t in tags if t["Key"] == directory.RETIRED_TAG), None)


@pytest.fixture
def world(aws):
    return World()


def applied_first(world):
    """The first run: RADIUS was never enabled; it is enabled for both proxies."""
    world.addresses("10.0.2.20", "10.0.1.10")
    world.describe()
    world.expect("enable_radius", ["10.0.1.10", "10.0.2.20"])
    world.describe("Creating", ["10.0.1.10", "10.0.2.20"])
    world.describe("Completed", ["10.0.1.10", "10.0.2.20"])
    assert world.run() == "EnableRadius"


# --- enabling, updating, and doing nothing ---------------------------------------------------------------------

def test_the_first_run_enables_radius_with_one_server_entry_per_address(world, capsys):
    applied_first(world)
    assert world.state() == {"servers": ["10.0.1.10", "10.0.2.20"], "port": 1812,
                             "secret_version": world.version(), "applied_at": int(NOW),
                             "secret_sha256": hashlib.sha256(SHARED_SECRET.encode()).hexdigest(), "confirmed": True}
    assert world.clock.sleeps == [5.0, 5.0]
    assert world.notices() == []
    out = capsys.readouterr().out
    assert SHARED_SECRET not in out and SHARED_SECRET not in json.dumps(world.state())
    assert '"did":"called EnableRadius"' in out


def test_a_repeated_run_in_sync_calls_nothing_but_describe(world, capsys):
    applied_first(world)
    before = client("ssm").get_parameter(Name=STATE)["Parameter"]["Version"]
    for _ in range(2):
        world.describe("Completed", ["10.0.2.20", "10.0.1.10"])  # the order Directory Service lists them in
        assert world.run() == "in_sync"  # the Stubber fails on any call not queued: no Enable/UpdateRadius
    assert client("ssm").get_parameter(Name=STATE)["Parameter"]["Version"] == before
    assert '"did":"nothing"' in capsys.readouterr().out


def test_new_addresses_are_applied_with_update_radius(world):
    applied_first(world)
    world.addresses("10.0.1.10", "10.0.2.30", "10.0.3.40")
    world.describe("Completed", ["10.0.1.10", "10.0.2.20"])
    world.expect("update_radius", ["10.0.1.10", "10.0.2.30", "10.0.3.40"])
    world.describe("Completed", ["10.0.1.10", "10.0.2.30", "10.0.3.40"])
    assert world.run() == "UpdateRadius"
    assert world.state()["servers"] == ["10.0.1.10", "10.0.2.30", "10.0.3.40"]


def test_an_update_while_the_directory_is_creating_waits_then_applies(world, capsys):
    applied_first(world)
    world.addresses("10.0.1.10", "10.0.2.30")
    world.describe("Creating", ["10.0.1.10", "10.0.2.20"])
    world.describe("Creating", ["10.0.1.10", "10.0.2.20"])
    world.describe("Completed", ["10.0.1.10", "10.0.2.20"])
    world.expect("update_radius", ["10.0.1.10", "10.0.2.30"])
    world.describe("Completed", ["10.0.1.10", "10.0.2.30"])
    world.clock.sleeps.clear()
    assert world.run() == "UpdateRadius"  # not dropped, as the original's was
    assert world.clock.sleeps == [5.0, 5.0]  # one wait while Creating, then the first poll after the update
    assert "waiting for it to settle before applying" in capsys.readouterr().out


def test_a_failed_configuration_is_enabled_again(world):
    world.addresses("10.0.1.10")
    world.describe("Failed", ["10.0.9.9"])
    world.expect("enable_radius", ["10.0.1.10"])
    world.describe("Completed", ["10.0.1.10"])
    assert world.run() == "EnableRadius"


def test_enable_refused_because_the_configuration_exists_falls_back_to_update(world):
    world.addresses("10.0.1.10")
    world.describe("Failed", ["10.0.9.9"])
    world.expect("enable_radius", ["10.0.1.10"], error="EntityAlreadyExistsException")
    world.expect("update_radius", ["10.0.1.10"])
    world.describe("Completed", ["10.0.1.10"])
    assert world.run() == "UpdateRadius"


def test_a_stale_completed_right_after_the_update_is_not_taken_for_done(world):
    applied_first(world)
    world.addresses("10.0.1.10", "10.0.2.30")
    world.describe("Completed", ["10.0.1.10", "10.0.2.20"])
    world.expect("update_radius", ["10.0.1.10", "10.0.2.30"])
    world.describe("Completed", ["10.0.1.10", "10.0.2.20"])  # not yet the new settings
    world.describe("Creating", ["10.0.1.10", "10.0.2.30"])
    world.describe("Completed", ["10.0.1.10", "10.0.2.30"])
    assert world.run() == "UpdateRadius"


def test_settings_changed_in_the_console_are_put_back(world):
    applied_first(world)
    world.describe("Completed", ["10.0.1.10", "10.0.2.20"], timeout=5, retries=0)
    world.expect("update_radius", ["10.0.1.10", "10.0.2.20"])
    world.describe("Completed", ["10.0.1.10", "10.0.2.20"])
    assert world.run() == "UpdateRadius"


def test_new_domain_controllers_reach_the_proxies_without_a_directory_update(world):
    applied_first(world)
    before = stages(world.secret_arn)
    world.describe("Completed", ["10.0.1.10", "10.0.2.20"], controllers=["10.0.2.5", "10.0.1.5", "10.0.1.6"])
    assert world.run() == "in_sync"  # no UpdateRadius: the shared secret is the same
    current = json.loads(client("secretsmanager").get_secret_value(SecretId=world.secret_arn)["SecretString"])
    assert current["radius_clients"] == ["10.0.1.5", "10.0.1.6", "10.0.2.5"]
    assert current["radius_secret"] == SHARED_SECRET
    assert world.state()["secret_version"] == world.version() != next(iter(before))
    # the proxies read the new client list from the secret they already read
    state = secrets_source.state_from_stages({"AWSCURRENT": (world.version(), current)})
    assert [str(n) for n in state.clients] == ["10.0.1.5/32", "10.0.1.6/32", "10.0.2.5/32"]
    world.describe("Completed", ["10.0.1.10", "10.0.2.20"], controllers=["10.0.1.5", "10.0.1.6", "10.0.2.5"])
    versions = set(stages(world.secret_arn))
    assert world.run() == "in_sync" and set(stages(world.secret_arn)) == versions  # unchanged: no new version


def test_domain_controllers_wait_while_a_rotation_is_in_progress(world):
    applied_first(world)
    client("secretsmanager").put_secret_value(SecretId=world.secret_arn, VersionStages=["AWSPENDING"],
                                              SecretString=json.dumps({"radius_secret": "pending-secret-0123456789"}))
    world.describe("Completed", ["10.0.1.10", "10.0.2.20"], controllers=["10.0.1.5", "10.0.2.5"])
    assert world.run() == "in_sync"
    current = json.loads(client("secretsmanager").get_secret_value(SecretId=world.secret_arn)["SecretString"])
    assert "radius_clients" not in current


def test_timeout_and_retries_follow_the_settings(world):
    world.addresses("10.0.1.10")
    world.describe()
    world.expect("enable_radius", ["10.0.1.10"], timeout=50, retries=1, port=11812)
    world.describe("Completed", ["10.0.1.10"], timeout=50, retries=1, port=11812)
    assert world.run(timeout=50, retries=1, port=11812) == "EnableRadius"


# --- never at nothing, never at the seed ----------------------------------------------------------------------

@pytest.mark.parametrize("parameter", [
    "default",  # the seed the original enabled RADIUS with
    json.dumps({"addresses": [], "port": 1812}),
    json.dumps({"addresses": ["10.0.1.10,10.0.2.20"], "port": 1812}),  # the original's comma-joined string
    json.dumps({"addresses": ["default"]}),
    json.dumps(["10.0.1.10"]),
])
def test_no_usable_address_means_no_directory_call_at_all(world, parameter, capsys):
    client("ssm").put_parameter(Name=ADDRESSES, Value=parameter, Type="String", Overwrite=True)
    assert world.run() == "no_addresses"  # nothing queued on the Stubber: any DS call would fail the test
    assert world.notices() == []
    assert "the directory is never pointed at nothing or at a seed" in capsys.readouterr().out


def test_fixed_nlb_addresses_replace_the_parameter(world):
    world.describe()
    world.expect("enable_radius", ["10.0.1.100", "10.0.2.100"])
    world.describe("Completed", ["10.0.1.100", "10.0.2.100"])
    assert world.run(nlb_addresses=("10.0.2.100", "10.0.1.100")) == "EnableRadius"  # the parameter is still a seed


# --- the secret: rotation and retiring the previous one -------------------------------------------------------

def test_a_rotated_secret_is_applied_and_the_previous_one_retired_only_after_a_later_run_confirms(world):
    applied_first(world)
    first_version = world.version()
    world.rotate("second-shared-secret-0123456789")
    assert world.version("AWSPREVIOUS") == first_version
    world.describe("Completed", ["10.0.1.10", "10.0.2.20"])
    world.expect("update_radius", ["10.0.1.10", "10.0.2.20"], shared_secret="second-shared-secret-0123456789")
    world.describe("Creating", ["10.0.1.10", "10.0.2.20"])
    world.describe("Completed", ["10.0.1.10", "10.0.2.20"])
    assert world.run(retire_grace_seconds=900) == "UpdateRadius"
    assert world.state()["secret_version"] == world.version() and world.state()["confirmed"] is False
    assert world.retired_tag() is None  # the directory may not use the new secret yet: the old one stays valid
    # a later run sees Completed again: the switch is confirmed, and the previous secret retires after the grace
    world.describe("Completed", ["10.0.1.10", "10.0.2.20"])
    assert world.run(retire_grace_seconds=900) == "in_sync"
    assert world.state()["confirmed"] is True
    assert world.retired_tag() == f"{first_version}@{int(NOW) + 900}"
    # what the proxies make of it: the previous secret is accepted until the grace period ends, then not
    retired = secrets_source.parse_retired(world.retired_tag())
    read = {"AWSCURRENT": (world.version(), {"radius_secret": "second-shared-secret-0123456789"}),
            "AWSPREVIOUS": (first_version, {"radius_secret": SHARED_SECRET})}
    assert len(secrets_source.state_from_stages(read, retired, now=NOW + 899).versions) == 2
    assert len(secrets_source.state_from_stages(read, retired, now=NOW + 900).versions) == 1
    # a repeated run is in sync and leaves the tag (and its time) alone
    world.describe("Completed", ["10.0.1.10", "10.0.2.20"])
    assert world.run(retire_grace_seconds=60) == "in_sync"
    assert world.retired_tag() == f"{first_version}@{int(NOW) + 900}"


def test_a_secret_change_counts_as_applied_only_after_the_settle_time(world):
    """DescribeDirectories never shows the secret: a Completed seen right after UpdateRadius may be the old one."""
    applied_first(world)
    world.rotate("second-shared-secret-0123456789")
    world.describe("Completed", ["10.0.1.10", "10.0.2.20"])
    world.expect("update_radius", ["10.0.1.10", "10.0.2.20"], shared_secret="second-shared-secret-0123456789")
    for _ in range(8):  # the old Completed stays visible; each poll waits longer (5 s growing to 30 s)
        world.describe("Completed", ["10.0.1.10", "10.0.2.20"])
    world.clock.sleeps.clear()
    assert world.run(secret_settle_seconds=120) == "UpdateRadius"
    assert sum(world.clock.sleeps) >= 120  # not recorded before the settle time had passed
    assert world.state()["confirmed"] is False and world.retired_tag() is None


def test_the_run_that_confirms_a_secret_change_names_the_version(world, capsys):
    """The per-rotation saved query finds the confirmation by the version it pastes in."""
    applied_first(world)
    world.rotate("second-shared-secret-0123456789")
    world.describe("Completed", ["10.0.1.10", "10.0.2.20"])
    world.expect("update_radius", ["10.0.1.10", "10.0.2.20"], shared_secret="second-shared-secret-0123456789")
    for _ in range(8):  # the settle time passes while the old Completed stays visible
        world.describe("Completed", ["10.0.1.10", "10.0.2.20"])
    world.run(secret_settle_seconds=120)
    assert world.state()["confirmed"] is False
    capsys.readouterr()
    world.describe("Completed", ["10.0.1.10", "10.0.2.20"])
    world.run(secret_settle_seconds=120)
    confirmed = [json.loads(line) for line in capsys.readouterr().out.splitlines()
                 if "confirmed the new secret" in line]
    assert [line["secret_version"] for line in confirmed] == [world.version()]


def test_rotation_waits_while_the_directory_s_switch_is_unconfirmed(world):
    from duomfa.control.rotation import RotationError, check_directory_caught_up

    applied_first(world)
    world.rotate("second-shared-secret-0123456789")
    world.describe("Completed", ["10.0.1.10", "10.0.2.20"])
    world.expect("update_radius", ["10.0.1.10", "10.0.2.20"], shared_secret="second-shared-secret-0123456789")
    world.describe("Completed", ["10.0.1.10", "10.0.2.20"])
    world.run()
    with pytest.raises(RotationError, match="not confirmed|may still use"):
        check_directory_caught_up(client("ssm"), STATE, world.version())


def test_the_tag_constant_is_the_one_the_proxies_read():
    assert directory.RETIRED_TAG == secrets_source.RETIRED_TAG


def test_an_in_sync_run_puts_back_a_missing_retirement_tag(world):
    applied_first(world)
    first_version = world.version()
    world.rotate("second-shared-secret-0123456789")
    world.describe("Completed", ["10.0.1.10", "10.0.2.20"])
    world.expect("update_radius", ["10.0.1.10", "10.0.2.20"], shared_secret="second-shared-secret-0123456789")
    world.describe("Completed", ["10.0.1.10", "10.0.2.20"])
    world.run()
    client("secretsmanager").untag_resource(SecretId=world.secret_arn, TagKeys=[directory.RETIRED_TAG])
    world.describe("Completed", ["10.0.1.10", "10.0.2.20"])
    assert world.run() == "in_sync"
    assert world.retired_tag() == f"{first_version}@{int(NOW) + 900}"  # from the recorded applied_at


def test_nothing_is_retired_while_a_newer_secret_is_current(world):
    applied_first(world)
    applied_version = world.version()
    world.rotate("second-shared-secret-0123456789")  # finishSecret ran while this run was applying
    assert retire_previous(client("secretsmanager"), world.secret_arn, applied_version, NOW) == "newer"
    assert world.retired_tag() is None


def test_a_tag_from_an_earlier_rotation_is_replaced(world):
    applied_first(world)
    world.rotate("second-shared-secret-0123456789")
    client("secretsmanager").tag_resource(SecretId=world.secret_arn,
                                          Tags=[{"Key": directory.RETIRED_TAG, "Value": "older-version@1"}])
    assert retire_previous(client("secretsmanager"), world.secret_arn, world.version(), NOW) == "tagged"
    assert world.retired_tag() == f"{world.version('AWSPREVIOUS')}@{int(NOW)}"


# --- failures: SNS, then the exception again ------------------------------------------------------------------

def test_failed_after_the_update_notifies_sns_and_raises(world):
    world.addresses("10.0.1.10", "10.0.2.20")
    world.describe()
    world.expect("enable_radius", ["10.0.1.10", "10.0.2.20"])
    world.describe("Creating", ["10.0.1.10", "10.0.2.20"])
    world.describe("Failed", ["10.0.1.10", "10.0.2.20"])
    with pytest.raises(DirectoryUpdateFailed):
        world.run()
    (subject, message), = world.notices()
    assert DIRECTORY_ID in subject and len(subject) <= 100
    assert "RadiusStatus Failed" in message and "10.0.1.10, 10.0.2.20" in message
    assert "security group" in message and "duomfa doctor" in message and "UDP 1812" in message
    assert SHARED_SECRET not in message
    assert client("ssm").get_parameter(Name=STATE)["Parameter"]["Value"] == "none"  # nothing recorded


def test_the_deadline_notifies_sns_and_raises(world):
    world.addresses("10.0.1.10")
    world.describe()
    world.expect("enable_radius", ["10.0.1.10"])
    for _ in range(4):
        world.describe("Creating", ["10.0.1.10"])
    with pytest.raises(DirectoryUpdateTimedOut, match="Creating"):
        world.run(deadline_seconds=40)
    assert world.clock.now - 1000 <= 40  # the poll stopped before the deadline, not after
    (subject, message), = world.notices()
    assert "DirectoryUpdateTimedOut" in message and "waiting for the directory to apply EnableRadius" in message


def test_a_directory_stuck_creating_before_the_update_also_times_out_and_notifies(world):
    world.addresses("10.0.1.10")
    for _ in range(4):  # polls after 5 and 7.5 s; the next wait (11.25 s) would pass the deadline
        world.describe("Creating", ["10.0.9.9"])
    with pytest.raises(DirectoryUpdateTimedOut):
        world.run(deadline_seconds=20)
    assert "waiting for an earlier update to settle" in world.notices()[0][1]


def test_any_error_notifies_sns_and_is_raised_again(world):
    world.addresses("10.0.1.10")
    world.stubber.add_client_error("describe_directories", service_error_code="AccessDeniedException",
                                   expected_params={"DirectoryIds": [DIRECTORY_ID]})
    with pytest.raises(ClientError, match="AccessDenied"):
        world.run()
    assert "AccessDeniedException" in world.notices()[0][1]


def test_an_sns_failure_does_not_hide_the_original_error(world, capsys):
    world.addresses("10.0.1.10")
    world.describe("Failed", ["10.0.1.10"])
    world.expect("enable_radius", ["10.0.1.10"])
    world.describe("Failed", ["10.0.1.10"])
    with pytest.raises(DirectoryUpdateFailed):
        world.run(topic_arn=f"arn:aws:sns:{REGION}:{DEFAULT_ACCOUNT_ID}:no-such-topic")
    assert "SNS publish failed" in capsys.readouterr().out


# --- the handlers ---------------------------------------------------------------------------------------------

def test_the_updater_handler_reads_its_settings_from_the_environment(world, monkeypatch):
    for name, setting in {"DIRECTORY_ID": DIRECTORY_ID, "SECRET_ARN": world.secret_arn,
                          "ADDRESS_PARAMETER": ADDRESSES, "STATE_PARAMETER": STATE, "TOPIC_ARN": world.topic_arn,
                          "RADIUS_PORT": "1812", "RADIUS_TIMEOUT": "30", "RADIUS_RETRIES": "2",
                          "RETIRE_GRACE_SECONDS": "900", "DEADLINE_SECONDS": "600",
                          "NLB_ADDRESSES": "10.0.1.100, 10.0.2.100"}.items():
        monkeypatch.setenv(name, setting)
    world.describe("Completed", ["10.0.1.100", "10.0.2.100"])
    world.expect("update_radius", ["10.0.1.100", "10.0.2.100"])
    world.describe("Completed", ["10.0.1.100", "10.0.2.100"])
    monkeypatch.setattr(directory, "FIRST_POLL_SECONDS", 0.01)  # the handler sleeps for real
    with world.stubber:
        outcome = directory.handler({"source": "duomfa.rotation", "reason": "finishSecret"}, None,
                                    client=lambda service: world.ds if service == "ds" else client(service))
    assert outcome == "UpdateRadius"


def test_settings_defaults_and_limits():
    required = {"DIRECTORY_ID": DIRECTORY_ID, "SECRET_ARN": "s", "ADDRESS_PARAMETER": "a", "STATE_PARAMETER": "b",
                "TOPIC_ARN": "t"}
    settings = UpdaterSettings.from_environ(required)
    assert (settings.timeout, settings.retries, settings.port, settings.retire_grace_seconds) == (30, 2, 1812, 900)
    assert settings.timeout * (settings.retries + 1) == 90  # the whole wait a push must fit in
    for name, bad in (("RADIUS_TIMEOUT", "51"), ("RADIUS_TIMEOUT", "0"), ("RADIUS_RETRIES", "11"),
                      ("RADIUS_PORT", "1024")):
        with pytest.raises(ValueError, match=name):
            UpdaterSettings.from_environ(required | {name: bad})
    with pytest.raises(ValueError, match="TOPIC_ARN"):
        UpdaterSettings.from_environ({k: v for k, v in required.items() if k != "TOPIC_ARN"})


# --- DisableRadius when the stack is deleted ------------------------------------------------------------------

def stubbed_ds():
    ds = client("ds")
    return ds, Stubber(ds)


def cfn_event(request, **extra):
    return {"RequestType": request, "ResourceProperties": {"DirectoryId": DIRECTORY_ID}, **extra}


def describe_answer(status=None):
    description = {"DirectoryId": DIRECTORY_ID}
    if status:
        description |= {"RadiusStatus": status, "RadiusSettings": {"RadiusServers": ["10.0.1.10"]}}
    return {"DirectoryDescriptions": [description]}


@pytest.mark.parametrize("status", ["Completed", "Failed", "Creating"])
def test_delete_disables_radius_when_it_is_configured(status):
    ds, stubber = stubbed_ds()
    stubber.add_response("describe_directories", describe_answer(status), {"DirectoryIds": [DIRECTORY_ID]})
    stubber.add_response("disable_radius", {}, {"DirectoryId": DIRECTORY_ID})
    with stubber:
        answer = disable_radius_on_delete(cfn_event("Delete", PhysicalResourceId="duomfa-radius-x"), ds=ds,
                                          directory_id=DIRECTORY_ID)
    stubber.assert_no_pending_responses()
    assert answer == {"PhysicalResourceId": "duomfa-radius-x"}


def test_delete_without_radius_configured_calls_nothing_more():
    ds, stubber = stubbed_ds()
    stubber.add_response("describe_directories", describe_answer(), {"DirectoryIds": [DIRECTORY_ID]})
    with stubber:
        disable_radius_on_delete(cfn_event("Delete"), ds=ds, directory_id=DIRECTORY_ID)
    stubber.assert_no_pending_responses()


def test_delete_of_a_directory_that_is_gone_succeeds():
    ds, stubber = stubbed_ds()
    stubber.add_client_error("describe_directories", service_error_code="EntityDoesNotExistException")
    with stubber:
        answer = disable_radius_on_delete(cfn_event("Delete"), ds=ds, directory_id=DIRECTORY_ID)
    assert answer == {"PhysicalResourceId": f"duomfa-radius-{DIRECTORY_ID}"}


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_create_and_update_do_nothing(request_type):
    ds, stubber = stubbed_ds()
    with stubber:  # no call queued: any call fails
        answer = disable_radius_on_delete(cfn_event(request_type), ds=ds, directory_id=DIRECTORY_ID)
    assert answer == {"PhysicalResourceId": f"duomfa-radius-{DIRECTORY_ID}"}


def test_a_failing_disable_fails_the_resource():
    ds, stubber = stubbed_ds()
    stubber.add_response("describe_directories", describe_answer("Completed"), {"DirectoryIds": [DIRECTORY_ID]})
    stubber.add_client_error("disable_radius", service_error_code="ClientException")
    with stubber, pytest.raises(ClientError):
        disable_radius_on_delete(cfn_event("Delete"), ds=ds, directory_id=DIRECTORY_ID)


def test_the_custom_resource_handler_takes_the_directory_from_the_resource_properties(monkeypatch):
    monkeypatch.setenv("DIRECTORY_ID", "d-0000000000")
    ds, stubber = stubbed_ds()
    stubber.add_response("describe_directories", describe_answer("Completed"), {"DirectoryIds": [DIRECTORY_ID]})
    stubber.add_response("disable_radius", {}, {"DirectoryId": DIRECTORY_ID})
    with stubber:
        directory.custom_resource_handler(cfn_event("Delete"), None, client=lambda service: ds)
    stubber.assert_no_pending_responses()


def test_the_deadline_is_shortened_to_end_before_lambdas_own_timeout():
    from duomfa.control.runtime import seconds_left

    class Context:
        def __init__(self, milliseconds):
            self.milliseconds = milliseconds

        def get_remaining_time_in_millis(self):
            return self.milliseconds

    assert seconds_left(600, Context(900_000)) == 600
    assert seconds_left(600, Context(300_000)) == 270  # 30 s kept for the notice and the last log line
    assert seconds_left(600, None) == 600


# --- the pause switch, the status metric, overlapping runs ----------------------------------------------------

def test_directory_mfa_disabled_takes_radius_off_and_keeps_it_off(world, capsys):
    applied_first(world)
    world.describe("Completed", ["10.0.1.10", "10.0.2.20"])
    world.stubber.add_response("disable_radius", {}, {"DirectoryId": DIRECTORY_ID})
    assert world.run(mfa_enabled=False) == "DisableRadius"
    assert world.state() == {"paused": True}
    world.describe()  # RADIUS is off: the reconciler does not put it back
    assert world.run(mfa_enabled=False) == "paused"
    assert "logins no longer ask for MFA" in capsys.readouterr().out
    # Enabled again: RADIUS is enabled with the current settings
    world.describe()
    world.expect("enable_radius", ["10.0.1.10", "10.0.2.20"])
    world.describe("Completed", ["10.0.1.10", "10.0.2.20"])
    assert world.run() == "EnableRadius"


def test_rotation_may_run_while_mfa_is_paused(world):
    from duomfa.control.rotation import check_directory_caught_up

    world.addresses("10.0.1.10")
    world.describe()
    world.run(mfa_enabled=False)
    world.rotate("second-shared-secret-0123456789")
    check_directory_caught_up(client("ssm"), STATE, world.version())  # nothing applied: no reason to refuse


def metric_lines(out):
    return [json.loads(line) for line in out.splitlines() if '"_aws"' in line]


@pytest.mark.parametrize("setup, state, in_sync", [
    (lambda w: (applied_first(w), w.describe("Completed", ["10.0.1.10", "10.0.2.20"])), "completed", 1),
    (lambda w: (w.addresses("10.0.1.10"), w.describe("Failed", ["10.0.9.9"]), w.expect("enable_radius", ["10.0.1.10"]),
                w.describe("Failed", ["10.0.1.10"])), "failed", 0),
])
def test_each_run_publishes_the_directory_s_radius_status_as_a_metric(world, capsys, setup, state, in_sync):
    setup(world)
    capsys.readouterr()
    with contextlib.suppress(DirectoryUpdateFailed):  # the failed case raises after publishing
        world.run(metrics_namespace="DuoMfa/test")
    (line,) = metric_lines(capsys.readouterr().out)
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "DuoMfa/test" and directive["Dimensions"] == [["DirectoryId"]]
    assert (line["state"], line["RadiusInSync"], line[f"Radius_{state}"]) == (state, in_sync, 1)
    assert line["DirectoryId"] == DIRECTORY_ID and isinstance(line["_aws"]["Timestamp"], int)


def test_a_paused_directory_counts_as_in_sync_for_the_alarm(world, capsys):
    world.addresses("10.0.1.10")
    world.describe()
    world.run(mfa_enabled=False, metrics_namespace="DuoMfa/test")
    (line,) = metric_lines(capsys.readouterr().out)
    assert (line["state"], line["RadiusInSync"]) == ("paused", 1)


class FakeDirectory:
    """Directory Service's RADIUS calls for concurrent runs: an update is Creating for the next two describes, then
    Completed with what it was given (a later update simply replaces an earlier one). The first describe from the
    thread named "A" waits until another thread has called UpdateRadius: the interleaving that lets a slow run apply
    an older reading after a newer one."""

    def __init__(self):
        import threading

        self.lock = threading.Lock()
        self.updated_by_another = threading.Event()
        self.a_described = False
        self.settings, self.status, self.pending = None, None, 0
        self.exceptions = type("exceptions", (), {"EntityAlreadyExistsException": type("Exists", (Exception,), {})})

    def describe_directories(self, DirectoryIds):
        import threading

        if threading.current_thread().name == "A" and not self.a_described:
            self.a_described = True
            self.updated_by_another.wait(10)
        with self.lock:
            description = {"DirectoryId": DirectoryIds[0], "Type": "MicrosoftAD"}
            if self.status is not None:
                if self.pending:
                    self.pending -= 1
                    status = "Creating"
                else:
                    status = self.status
                description["RadiusStatus"] = status
                description["RadiusSettings"] = {k: v for k, v in self.settings.items() if k != "SharedSecret"}
            return {"DirectoryDescriptions": [description]}

    def _set(self, RadiusSettings):
        import threading

        with self.lock:
            self.settings, self.status, self.pending = RadiusSettings, "Completed", 2
        if threading.current_thread().name != "A":
            self.updated_by_another.set()

    def enable_radius(self, DirectoryId, RadiusSettings):
        if self.status is not None:
            raise self.exceptions.EntityAlreadyExistsException()
        self._set(RadiusSettings)

    def update_radius(self, DirectoryId, RadiusSettings):
        self._set(RadiusSettings)


def test_two_runs_at_once_leave_the_directory_on_the_latest_addresses(world):
    """No reserved concurrency: two updater runs may overlap. Run A reads the old addresses, then stalls; run B
    reads the new ones and applies them; A wakes up and applies its older reading. Each run re-reads the desired
    settings after its update settles, so both end on the latest: the last word is never a stale reading."""
    import threading
    import time as real_time

    fake = FakeDirectory()
    fake.settings = {"RadiusServers": ["10.0.1.10", "10.0.2.20"], "RadiusPort": 1812, "RadiusTimeout": 30,
                     "RadiusRetries": 2, "AuthenticationProtocol": "PAP"}
    fake.status = "Completed"
    world.addresses("10.0.1.10", "10.0.2.25")
    outcomes, errors = [], []

    def one_run():
        try:
            outcomes.append(run(ds=fake, ssm=client("ssm"), secretsmanager=client("secretsmanager"), sns=client("sns"),
                                settings=world.settings(deadline_seconds=20), sleep=lambda s: real_time.sleep(0.01),
                                now=lambda: NOW))
        except Exception as exc:
            errors.append(exc)

    first = threading.Thread(target=one_run, name="A")
    first.start()
    real_time.sleep(0.2)  # A has read 10.0.2.25 and waits in its first describe
    world.addresses("10.0.1.10", "10.0.2.30")  # the proxies moved again
    second = threading.Thread(target=one_run, name="B")
    second.start()
    for thread in (first, second):
        thread.join(30)
        assert not thread.is_alive()
    assert errors == []
    assert fake.settings["RadiusServers"] == ["10.0.1.10", "10.0.2.30"]
    assert world.state()["servers"] == ["10.0.1.10", "10.0.2.30"]
