"""Invariants over generated configurations (hypothesis, 500 examples each):

- no accepted configuration opens 22, 5432 or 8000 to the world, whatever the protocol
  spelling or port range;
- the database allowlist never contains a world-wide (or public) range.

The oracle below is written independently of stack_model.ingress, from the spec: a rule
opens a port to the world when its source is a /0 and its range covers the port (protocol
"all" covers every port; icmp none). Each test also counts accepted and refused examples, so
a strategy that never reaches one side fails instead of passing vacuously.
"""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from fastapi_deploy.components import (
    Network,
    NetworkArgs,
    Postgres,
    PostgresArgs,
    SecurityGroup,
    SecurityGroupArgs,
)
from fastapi_deploy.stack_model.ingress import IngressRule
from fastapi_deploy.stack_model.stack_config import StackConfigError, load_stack_config
from tests.mocks.harness import build_component

PROTECTED = (22, 5432, 8000)
EXAMPLES = settings(
    max_examples=500,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def world(cidr: str) -> bool:
    return ipaddress.ip_network(cidr, strict=False).prefixlen == 0


def opens_to_world(protocol: str, start: int, end: int, cidr: str, port: int) -> bool:
    if protocol == "icmp" or not world(cidr):
        return False
    return protocol == "all" or start == -1 or start <= port <= end


# --- strategies --------------------------------------------------------------------------------------


@st.composite
def networks(draw: st.DrawFn) -> str:
    """CIDRs of every width, v4 and v6, sometimes with host bits set (must be refused)."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.sampled_from(["0.0.0.0/0", "::/0", "0.0.0.0/1", "128.0.0.0/1", "8000::/1"]))
    if draw(st.booleans()):
        prefix = draw(st.integers(0, 32))
        address = ipaddress.IPv4Address(draw(st.integers(0, 2**32 - 1)))
    else:
        prefix = draw(st.integers(0, 128))
        address = ipaddress.IPv6Address(draw(st.integers(0, 2**128 - 1)))  # type: ignore[assignment]
    if draw(st.integers(0, 9)) == 0:
        return f"{address}/{prefix}"  # host bits likely set
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False).with_prefixlen


PORTS = st.one_of(
    st.sampled_from([1, 21, 22, 23, 80, 443, 5431, 5432, 5433, 7999, 8000, 8001, 65535]),
    st.integers(1, 65535),
)


@st.composite
def rule_fields(draw: st.DrawFn, index: int = 0) -> dict[str, Any]:
    protocol = draw(st.sampled_from(["tcp", "udp", "icmp", "all"]))
    if protocol in ("icmp", "all") and draw(st.integers(0, 5)):
        start, end = -1, -1
    else:
        start, end = sorted((draw(PORTS), draw(PORTS)))
    return {
        "name": f"extra-{index}",
        "protocol": protocol,
        "port_start": start,
        "port_end": end,
        "source_cidr": draw(networks()),
    }


@st.composite
def security_group_inputs(draw: st.DrawFn) -> tuple[list[str], list[dict[str, Any]]]:
    admin = draw(st.lists(networks(), max_size=3))
    extras = [draw(rule_fields(index)) for index in range(draw(st.integers(0, 3)))]
    return admin, extras


def accepted_args(admin: list[str], extras: list[dict[str, Any]]) -> SecurityGroupArgs | None:
    try:
        rules = tuple(IngressRule(**fields) for fields in extras)
        return SecurityGroupArgs(vpc_id="vpc-1", admin_cidrs=tuple(admin), extra_ingress_rules=rules)
    except ValidationError:
        return None


def assert_closed_to_world(rules: list[tuple[str, int, int, str]]) -> None:
    for protocol, start, end, cidr in rules:
        for port in PROTECTED:
            assert not opens_to_world(protocol, start, end, cidr, port), (protocol, start, end, cidr, port)


# --- the security group ------------------------------------------------------------------------------


def test_no_accepted_security_group_opens_protected_ports_to_the_world() -> None:
    outcomes: Counter[str] = Counter()

    @EXAMPLES
    @given(security_group_inputs())
    def check(inputs: tuple[list[str], list[dict[str, Any]]]) -> None:
        args = accepted_args(*inputs)
        if args is None:
            outcomes["refused"] += 1
            return
        outcomes["accepted"] += 1
        assert_closed_to_world(
            [(r.protocol, r.port_start, r.port_end, r.source_cidr) for r in args.ingress_rules]
        )
        for cidr in args.admin_cidrs:
            assert not world(cidr)

    check()
    assert outcomes["accepted"] >= 50 and outcomes["refused"] >= 50, outcomes


def test_security_group_resources_stay_closed_to_the_world_under_mocks() -> None:
    """The same invariant on what the component actually sends to the provider."""
    outcomes: Counter[str] = Counter()

    @EXAMPLES
    @given(security_group_inputs())
    def check(inputs: tuple[list[str], list[dict[str, Any]]]) -> None:
        args = accepted_args(*inputs)
        if args is None:
            outcomes["refused"] += 1
            return
        outcomes["accepted"] += 1
        run, _ = build_component(lambda: SecurityGroup("hosts", args))
        recorded = [
            (item.inputs["protocol"], item.inputs["portStart"], item.inputs["portEnd"], item.inputs["cidrIp"])
            for item in run.of_type("volcengine:vpc/securityGroupRule:SecurityGroupRule")
        ]
        assert len(recorded) == len(args.ingress_rules)
        assert_closed_to_world(recorded)

    check()
    assert outcomes["accepted"] >= 50 and outcomes["refused"] >= 50, outcomes


# --- whole configurations ------------------------------------------------------------------------------


@st.composite
def narrow_networks(draw: st.DrawFn) -> str:
    """Networks an admin would really list: /16 or narrower (v4), /48 or narrower (v6)."""
    if draw(st.booleans()):
        prefix = draw(st.integers(16, 32))
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv4Address(
            draw(st.integers(0, 2**32 - 1))
        )
    else:
        prefix = draw(st.integers(48, 128))
        address = ipaddress.IPv6Address(draw(st.integers(0, 2**128 - 1)))
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False).with_prefixlen


def mostly(
    likely: st.SearchStrategy[Any], rarely: st.SearchStrategy[Any], percent: int = 80
) -> st.SearchStrategy[Any]:
    """`likely` in about `percent` of draws, else `rarely`: enough valid configs to check."""
    return st.integers(1, 100).flatmap(lambda roll: likely if roll <= percent else rarely)


@st.composite
def raw_configs(draw: st.DrawFn) -> dict[str, str]:
    """Configs that are often valid, and often wrong in one or two ways."""
    admin = draw(st.lists(mostly(narrow_networks(), networks()), max_size=3))
    raw = {
        "domain": "api.notes-demo.cn",
        "acmeEmail": "ops@notes-demo.cn",
        "alarmContactEmail": "ops@notes-demo.cn",
        "adminCidrs": json.dumps(admin),
        "vpcCidr": draw(
            mostly(
                st.sampled_from(["10.20.0.0/16", "172.16.0.0/20", "192.168.0.0/22", "10.0.0.0/18"]),
                networks(),
            )
        ),
    }
    zones = ["cn-beijing-a", "cn-beijing-b", "cn-beijing-c", "cn-shanghai-a"]
    chosen = draw(mostly(st.none(), st.lists(st.sampled_from(zones), max_size=3), percent=70))
    if chosen is not None:
        raw["zones"] = json.dumps(chosen)
    sizes = sorted(draw(st.lists(st.integers(1, 12), min_size=3, max_size=3)))
    sizes = draw(mostly(st.just(sizes), st.permutations(sizes), percent=85))
    raw["fleetMinSize"], raw["fleetDesiredSize"], raw["fleetMaxSize"] = (str(size) for size in sizes)
    # Drawn apart, so scale-in lands anywhere around scale-out: far below, just below, equal,
    # above (an abs() in the gap check would accept in=90/out=50).
    raw["cpuScaleInPercent"] = str(draw(st.integers(1, 99)))
    raw["cpuScaleOutPercent"] = str(draw(st.integers(2, 100)))
    raw["fleetEnabled"] = draw(st.sampled_from(["true", "false"]))
    return raw


def test_no_accepted_stack_config_opens_ports_or_the_database_to_the_world() -> None:
    outcomes: Counter[str] = Counter()

    @EXAMPLES
    @given(raw_configs())
    def check(raw: dict[str, str]) -> None:
        try:
            config = load_stack_config(raw)
        except StackConfigError as error:
            outcomes["refused"] += 1
            assert all(line.startswith("fastapi-deploy:") for line in str(error).splitlines())
            return
        outcomes["accepted"] += 1
        rules = SecurityGroupArgs(vpc_id="vpc", admin_cidrs=config.admin_cidrs).ingress_rules
        assert_closed_to_world([(r.protocol, r.port_start, r.port_end, r.source_cidr) for r in rules])
        allowlist = NetworkArgs(zone_ids=config.zone_ids, vpc_cidr=config.vpc_cidr).subnet_cidr_blocks
        for cidr in allowlist:
            network = ipaddress.ip_network(cidr)
            assert not world(cidr) and network.is_private
        assert config.fleet_min_size <= config.fleet_desired_size <= config.fleet_max_size
        assert config.cpu_scale_out_percent - config.cpu_scale_in_percent >= 20

    check()
    assert outcomes["accepted"] >= 50 and outcomes["refused"] >= 50, outcomes


def test_database_allowlist_never_holds_a_world_range_under_mocks() -> None:
    outcomes: Counter[str] = Counter()
    subnets = st.lists(networks(), min_size=1, max_size=3)

    @EXAMPLES
    @given(st.one_of(subnets, st.sampled_from([["10.20.0.0/24", "10.20.1.0/24"], ["172.16.4.0/22"]])))
    def check(cidrs: list[str]) -> None:
        try:
            args = PostgresArgs(
                subnet_id="subnet-a",
                primary_zone_id="cn-beijing-a",
                secondary_zone_id="cn-beijing-b",
                allowed_cidrs=tuple(cidrs),
            )
        except ValidationError:
            outcomes["refused"] += 1
            return
        outcomes["accepted"] += 1
        run, _ = build_component(lambda: Postgres("db", args))
        allowlist = run.one("volcengine:rds_postgresql/allowlist:Allowlist").inputs["allowLists"]
        assert allowlist
        for cidr in allowlist:
            assert not world(cidr) and ipaddress.ip_network(cidr).is_private

    check()
    assert outcomes["accepted"] >= 20 and outcomes["refused"] >= 50, outcomes


def test_network_subnets_always_fit_inside_the_vpc() -> None:
    @EXAMPLES
    @given(
        st.sampled_from(["10.20.0.0/16", "172.16.0.0/20", "192.168.0.0/22", "10.0.0.0/18"]),
        st.integers(2, 4),
        st.integers(20, 28),
    )
    def check(vpc: str, zone_count: int, prefix: int) -> None:
        zones = tuple(f"cn-beijing-{letter}" for letter in "abcd"[:zone_count])
        try:
            args = NetworkArgs(zone_ids=zones, vpc_cidr=vpc, subnet_prefix_length=prefix)
        except ValidationError:
            return
        blocks = [ipaddress.IPv4Network(block) for block in args.subnet_cidr_blocks]
        assert len(blocks) == zone_count
        assert all(block.subnet_of(ipaddress.IPv4Network(vpc)) for block in blocks)
        assert all(not a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])

    check()


def test_network_component_registers_what_its_args_promise() -> None:
    run, network = build_component(
        lambda: Network("net", NetworkArgs(zone_ids=("cn-beijing-a", "cn-beijing-b", "cn-beijing-c")))
    )
    recorded = {
        item.inputs["zoneId"]: item.inputs["cidrBlock"]
        for item in run.of_type("volcengine:vpc/subnet:Subnet")
    }
    assert recorded == dict(zip(network.zone_ids, network.subnet_cidr_blocks, strict=True))
