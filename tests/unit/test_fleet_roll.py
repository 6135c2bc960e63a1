"""The fleet roll drives the real Volcengine SDK against a loopback stand-in of Auto Scaling and
the CLB (tests/unit/volcengine_stand_in.py, whose rules name their sources). What is checked is
what a deployer would watch in the console: hosts added before any is removed, never fewer
healthy hosts than before, the oldest removed first, the group's max and alarm tasks put back,
and a batch that never turns healthy taken out again with the old hosts still serving."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest

from fastapi_deploy.fleet_roll import Host, RollFailed, VolcengineFleetApi, main, old_hosts, parse_time, roll
from tests.unit.volcengine_stand_in import ACCESS_KEY, REGION, Fleet, StandIn


@pytest.fixture
def fleet() -> Fleet:
    return Fleet()


@pytest.fixture
def stand_in(fleet: Fleet) -> Iterator[StandIn]:
    with StandIn(fleet) as server:
        yield server


def api_for(stand_in: StandIn, fleet: Fleet) -> VolcengineFleetApi:
    return VolcengineFleetApi(
        region=REGION,
        access_key=ACCESS_KEY,
        secret_key="standin-secret",
        scaling_group_id="scg-standin",
        listener_ids=fleet.listener_ids,
        host=stand_in.host,
    )


def run(stand_in: StandIn, fleet: Fleet, **kwargs: object) -> tuple[object, list[str]]:
    lines: list[str] = []
    report = roll(
        api_for(stand_in, fleet),
        poll_seconds=0.02,
        health_timeout_seconds=kwargs.pop("health_timeout_seconds", 10),  # type: ignore[arg-type]
        log=lines.append,
        **kwargs,  # type: ignore[arg-type]
    )
    return report, lines


def actions(fleet: Fleet) -> list[str]:
    return [action for action, _ in fleet.calls if not action.startswith("Describe")]


def test_one_at_a_time_adds_before_it_removes_and_never_drops_below_the_fleet(stand_in: StandIn, fleet: Fleet) -> None:
    old = fleet.add_running(2)
    fleet.change_configuration()

    report, _ = run(stand_in, fleet, batch_size=1)

    assert set(fleet.instances).isdisjoint(old)
    assert len(fleet.instances) == 2 and fleet.healthy_count() == 2
    assert report.replaced == tuple(old)  # type: ignore[attr-defined]
    # Add, remove the oldest, add, remove the next: one host at a time.
    removes = [params for action, params in fleet.calls if action == "RemoveInstances"]
    assert [params["InstanceIds.1"] for params in removes] == [[old[0]], [old[1]]]
    assert all("InstanceIds.2" not in params for params in removes)
    assert actions(fleet) == [
        "SuspendProcesses",
        "ModifyScalingGroup",
        "RemoveInstances",
        "ModifyScalingGroup",
        "RemoveInstances",
        "ResumeProcesses",
    ]
    modifies = [params for action, params in fleet.calls if action == "ModifyScalingGroup"]
    assert [params["DesireInstanceNumber"] for params in modifies] == [["3"], ["3"]]
    # The healthy count never went under the two hosts the fleet had.
    assert min(count for _, count in fleet.healthy_timeline) >= 2
    assert fleet.desired == 2 and fleet.max_size == 4


def test_a_batch_of_two_replaces_both_at_once(stand_in: StandIn, fleet: Fleet) -> None:
    old = fleet.add_running(2)
    fleet.change_configuration()

    run(stand_in, fleet, batch_size=2)

    removes = [params for action, params in fleet.calls if action == "RemoveInstances"]
    assert len(removes) == 1 and sorted([removes[0]["InstanceIds.1"][0], removes[0]["InstanceIds.2"][0]]) == old
    assert min(count for _, count in fleet.healthy_timeline) >= 2


def test_a_full_group_gets_room_for_the_batch_and_its_max_back(stand_in: StandIn, fleet: Fleet) -> None:
    fleet.max_size = 2
    fleet.add_running(2)
    fleet.change_configuration()

    run(stand_in, fleet, batch_size=1)

    modifies = [params for action, params in fleet.calls if action == "ModifyScalingGroup"]
    assert modifies[0]["MaxInstanceNumber"] == ["3"]
    assert fleet.max_size == 2 and fleet.desired == 2 and len(fleet.instances) == 2


def test_alarm_tasks_are_suspended_while_it_rolls_and_resumed_after(stand_in: StandIn, fleet: Fleet) -> None:
    fleet.add_running(2)
    fleet.change_configuration()

    run(stand_in, fleet)

    done = actions(fleet)
    assert done[0] == "SuspendProcesses" and done[-1] == "ResumeProcesses"
    suspend = next(params for action, params in fleet.calls if action == "SuspendProcesses")
    assert suspend["Processes.1"] == ["AlarmNotification"]
    assert fleet.suspended == set()


def test_hosts_created_after_the_change_are_kept(stand_in: StandIn, fleet: Fleet) -> None:
    """A roll that failed halfway runs again: it replaces only what is still old."""
    fleet.add_running(1, age_hours=3)
    fleet.change_configuration()
    fleet.add_running(1, age_hours=-0.01)  # created after the change: already new
    newer = max(fleet.instances.values(), key=lambda instance: instance.created).instance_id

    report, _ = run(stand_in, fleet)

    assert newer in fleet.instances
    assert len(report.replaced) == 1  # type: ignore[attr-defined]


def test_nothing_old_means_no_change_at_all(stand_in: StandIn, fleet: Fleet) -> None:
    fleet.change_configuration()
    fleet.add_running(2, age_hours=-0.01)

    report, lines = run(stand_in, fleet)

    assert report.replaced == ()  # type: ignore[attr-defined]
    assert actions(fleet) == []
    assert "nothing to replace" in lines[-1]


def test_every_existing_host_is_old_when_told_the_change_is_now(stand_in: StandIn, fleet: Fleet) -> None:
    """For a service that does not stamp UpdatedAt: the configuration looks unchanged since its creation."""
    old = fleet.add_running(2)

    report, _ = run(stand_in, fleet, changed_after=datetime.datetime.now(datetime.UTC))

    assert report.replaced == tuple(old)  # type: ignore[attr-defined]


def test_a_batch_that_never_turns_healthy_is_removed_and_the_old_hosts_keep_serving(
    stand_in: StandIn, fleet: Fleet
) -> None:
    old = fleet.add_running(2)
    fleet.change_configuration()
    fleet.broken = True

    with pytest.raises(RollFailed) as failure:
        run(stand_in, fleet, health_timeout_seconds=1.0)

    message = str(failure.value)
    assert "healthy on every listener" in message
    assert "Down on lsn-80" in message and "i-new" in message
    assert "release-reports/" in message
    assert sorted(fleet.instances) == old and fleet.healthy_count() == 2
    assert fleet.desired == 2 and fleet.suspended == set()


def test_a_launch_that_never_comes_puts_the_desired_count_back(stand_in: StandIn, fleet: Fleet) -> None:
    old = fleet.add_running(2)
    fleet.change_configuration()
    fleet.launch_fails = True

    with pytest.raises(RollFailed, match="new host\\(s\\) in service: not within"):
        run(stand_in, fleet, health_timeout_seconds=0.5)

    assert sorted(fleet.instances) == old
    assert fleet.desired == 2 and fleet.max_size == 4 and fleet.suspended == set()


def test_a_full_group_whose_batch_fails_gets_its_max_back(stand_in: StandIn, fleet: Fleet) -> None:
    fleet.max_size = 2
    fleet.add_running(2)
    fleet.change_configuration()
    fleet.broken = True

    with pytest.raises(RollFailed):
        run(stand_in, fleet, health_timeout_seconds=0.5)

    assert (fleet.desired, fleet.max_size, len(fleet.instances)) == (2, 2, 2)


def test_service_hiccups_are_ridden_out(stand_in: StandIn, fleet: Fleet) -> None:
    old = fleet.add_running(2)
    fleet.change_configuration()
    # More 503s in a row than the SDK retries by itself (its retryer takes 5xx and 429).
    fleet.unavailable = 8

    report, _ = run(stand_in, fleet)

    assert report.replaced == tuple(old)  # type: ignore[attr-defined]
    assert fleet.unavailable == 0


def test_an_operators_own_suspension_is_left_alone(stand_in: StandIn, fleet: Fleet) -> None:
    fleet.add_running(2)
    fleet.change_configuration()
    fleet.suspended = {"AlarmNotification"}

    run(stand_in, fleet)

    assert "SuspendProcesses" not in actions(fleet) and "ResumeProcesses" not in actions(fleet)
    assert fleet.suspended == {"AlarmNotification"}


def test_batches_above_what_removeinstances_takes_are_refused(stand_in: StandIn, fleet: Fleet) -> None:
    fleet.add_running(2)
    fleet.change_configuration()
    with pytest.raises(RollFailed, match="at most 20"):
        run(stand_in, fleet, batch_size=21)


def test_group_locked_by_an_activity_is_waited_for(stand_in: StandIn, fleet: Fleet) -> None:
    fleet.add_running(2)
    fleet.change_configuration()
    fleet.lifecycle_state = "Locked"
    import threading

    def unlock() -> None:
        with fleet.lock:
            fleet.lifecycle_state = "Active"

    threading.Timer(0.3, unlock).start()
    report, _ = run(stand_in, fleet)
    assert len(report.replaced) == 2  # type: ignore[attr-defined]


def test_a_disabled_group_is_refused_by_name(stand_in: StandIn, fleet: Fleet) -> None:
    fleet.add_running(2)
    fleet.lifecycle_state = "InActive"
    with pytest.raises(RollFailed, match="InActive: enable it"):
        run(stand_in, fleet)


def test_the_stand_in_refuses_what_the_api_refuses(stand_in: StandIn, fleet: Fleet) -> None:
    """The stand-in's rules bite (else the tests above prove little): a desired count above max
    and a removal under min are API errors."""
    fleet.add_running(2)
    api = api_for(stand_in, fleet)
    with pytest.raises(Exception, match=r"InvalidParameter\.DesireInstanceNumber"):
        api.set_capacity(5, 4)
    with pytest.raises(Exception, match=r"InvalidParameter\.MinInstanceNumber"):
        api.remove(sorted(fleet.instances)[:1])
    with pytest.raises(Exception, match=r"InvalidParameter\.InstanceIds"):
        api.remove([f"i-{number}" for number in range(21)])
    other = VolcengineFleetApi(
        region=REGION, access_key=ACCESS_KEY, secret_key="s", scaling_group_id="scg-other", listener_ids=(), host=stand_in.host
    )
    with pytest.raises(Exception, match=r"InvalidScalingGroup\.NotFound"):
        other.hosts()


def test_hosts_page_through_more_than_one_page(stand_in: StandIn, fleet: Fleet) -> None:
    fleet.add_running(5)
    api = api_for(stand_in, fleet)
    api.PAGE_SIZE = 2
    assert len(api.hosts()) == 5


def test_listener_health_pages_through_more_than_one_page(stand_in: StandIn, fleet: Fleet) -> None:
    ids = fleet.add_running(5)
    api = api_for(stand_in, fleet)
    api.PAGE_SIZE = 2
    assert api.health(ids) == {instance: ["Up", "Up"] for instance in ids}


def test_main_needs_the_listeners_to_judge_health(capsys: pytest.CaptureFixture[str]) -> None:
    settings = {"VOLCENGINE_REGION": REGION, "ROLL_SCALING_GROUP_ID": "scg-1", "VOLCENGINE_ACCESS_KEY": "a", "VOLCENGINE_SECRET_KEY": "b"}
    assert main(settings) == 1
    assert "ROLL_LISTENER_IDS is not set" in capsys.readouterr().err


def test_main_names_missing_credentials_and_the_way_out(capsys: pytest.CaptureFixture[str]) -> None:
    assert main({"VOLCENGINE_REGION": REGION, "ROLL_SCALING_GROUP_ID": "scg-1", "ROLL_LISTENER_IDS": "lsn-1"}) == 1
    err = capsys.readouterr().err
    assert "VOLCENGINE_ACCESS_KEY" in err and "fleetRollHealthMinutes: 0" in err


def settings(stand_in: StandIn, fleet: Fleet, **extra: str) -> dict[str, str]:
    return {
        "VOLCENGINE_REGION": REGION,
        "VOLCENGINE_ACCESS_KEY": ACCESS_KEY,
        "VOLCENGINE_SECRET_KEY": "standin-secret",
        "ROLL_SCALING_GROUP_ID": "scg-standin",
        "ROLL_LISTENER_IDS": ",".join(fleet.listener_ids),
        "ROLL_BATCH_SIZE": "1",
        "ROLL_HEALTH_TIMEOUT_SECONDS": "10",
        "ROLL_POLL_SECONDS": "0.02",
        "ROLL_API_HOST": stand_in.host,
        **extra,
    }


def test_main_rolls_every_existing_host_when_the_configuration_changed_since_its_last_run(
    stand_in: StandIn, fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    """The service's stamp says nothing changed (UpdatedAt is the creation): the previous
    output naming another configuration is what makes the hosts old."""
    old = fleet.add_running(2)
    previous = "fleet roll: nothing\nfleet roll: hosts boot from configuration aaa\n"
    code = main(settings(stand_in, fleet, ROLL_CONFIGURATION="bbb", PULUMI_COMMAND_STDOUT=previous))
    out = capsys.readouterr()
    assert code == 0, out.err
    assert set(fleet.instances).isdisjoint(old)
    assert "fleet roll: replaced 2 host(s)" in out.out
    assert out.out.splitlines()[-1] == "fleet roll: hosts boot from configuration bbb"


def test_main_replaces_nothing_when_only_its_own_settings_changed(
    stand_in: StandIn, fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    old = fleet.add_running(2)
    fleet.change_configuration()  # even with a stamp newer than the hosts
    previous = "fleet roll: hosts boot from configuration bbb\n"
    code = main(settings(stand_in, fleet, ROLL_CONFIGURATION="bbb", PULUMI_COMMAND_STDOUT=previous, ROLL_BATCH_SIZE="2"))
    assert code == 0
    assert sorted(fleet.instances) == old and actions(fleet) == []
    assert "nothing to replace" in capsys.readouterr().out


def test_main_first_run_goes_by_the_service_stamp(
    stand_in: StandIn, fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new fleet (hosts created after its configuration) is not replaced at birth."""
    born = fleet.add_running(2, age_hours=-0.01)
    assert main(settings(stand_in, fleet, ROLL_CONFIGURATION="ccc")) == 0
    assert sorted(fleet.instances) == born and actions(fleet) == []


def test_main_reports_api_errors_without_a_traceback(stand_in: StandIn, fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        {
            "VOLCENGINE_REGION": REGION,
            "VOLCENGINE_ACCESS_KEY": "AKLTwrong",
            "VOLCENGINE_SECRET_KEY": "x",
            "ROLL_SCALING_GROUP_ID": "scg-standin",
            "ROLL_LISTENER_IDS": "lsn-80",
            "ROLL_API_HOST": stand_in.host,
        }
    )
    err = capsys.readouterr().err
    assert code == 1 and "SignatureDoesNotMatch" in err and "Traceback" not in err


def test_stamps_with_offsets_compare_as_instants() -> None:
    assert parse_time("2026-11-26T10:00:00+08:00") == parse_time("2026-11-26T02:00:00Z")
    hosts = [
        Host("i-b", "InService", parse_time("2026-11-26T09:00:00+08:00")),
        Host("i-a", "InService", parse_time("2026-11-26T00:30:00Z")),
        Host("i-c", "InService", parse_time("2026-11-26T01:00:00Z"), creation_type="Attached"),
        Host("i-d", "Pending", parse_time("2026-11-26T00:10:00Z")),
    ]
    assert [host.instance_id for host in old_hosts(hosts, parse_time("2026-11-26T02:00:00Z"))] == ["i-a", "i-b"]
