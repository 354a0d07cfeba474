"""Event contracts: generated events validate, malformed injection is exact, validation is strict."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import orjson
import pyarrow as pa
import pytest

from smartcity import contracts
from smartcity.simulator.faults import MALFORMED_KINDS, corrupt
from smartcity.simulator.run import EventStream, SimulationConfig
from smartcity.simulator.world import World

START = datetime(2026, 11, 29, 7, 30, tzinfo=timezone.utc)


def collect(stream: EventStream, n: int) -> list:
    messages = []
    while stream.generated < n:
        messages.extend(stream.tick(n - stream.generated))
    return messages + stream.drain()


def test_every_generated_event_of_every_type_validates():
    world = World(seed=3, vehicles=600, start=START)
    seen = Counter()
    for _ in range(3600):
        for contract, record in world.step():
            typed, reason = contract.parse(orjson.dumps(record))
            assert reason is None, (contract.name, reason, record)
            assert typed[contract.key] == record[contract.key]
            assert typed["event_time"].tzinfo is not None
            seen[contract.name] += 1
    assert set(seen) == {c.name for c in contracts.CONTRACTS}, seen
    statuses = set()
    # every incident lifecycle status appears within an hour of a busy city
    world = World(seed=3, vehicles=600, start=START)
    for _ in range(3600):
        statuses |= {r["status"] for c, r in world.step() if c is contracts.EMERGENCY}
    assert statuses == set(contracts.INCIDENT_STATUSES)


@pytest.mark.parametrize("share,kinds", [(0.1, MALFORMED_KINDS), (0.037, ("bad_json", "out_of_range")),
                                         (0.0, MALFORMED_KINDS)])
def test_malformed_injection_is_exact_in_share_and_kinds(share, kinds):
    n = 20_000
    stream = EventStream(SimulationConfig(events=n, seed=5, start=START, malformed_share=share,
                                          malformed_kinds=kinds, late_share=0.05))
    messages = collect(stream, n)
    assert len(messages) == n
    malformed = [m for m in messages if m.malformed]
    assert len(malformed) == int(n * share)
    by_kind = Counter(m.malformed for m in malformed)
    assert set(by_kind) <= set(kinds)
    assert max(by_kind.values(), default=0) - min(by_kind.values(), default=0) <= 1  # taken in turn
    for m in messages:
        contract = contracts.BY_TOPIC[m.topic]
        _, reason = contract.parse(m.value)
        assert reason == m.expected_reason, (m, reason)  # valid -> None; malformed -> the injected fault


def test_late_events_are_exact_share_and_arrive_after_newer_events():
    n = 20_000
    stream = EventStream(SimulationConfig(events=n, seed=9, vehicles=60, start=START, late_share=0.04,
                                          max_lateness_s=120))
    released = []
    while stream.generated < n:
        released.extend(stream.tick(n - stream.generated))
    drained = stream.drain()  # still held when the run ends: sent last
    late = [m for m in released + drained if m.late]
    assert len(late) == round(n * 0.04)
    assert all(m.late for m in drained) and len(drained) < len(late) / 4

    def event_time(m):
        return datetime.fromisoformat(orjson.loads(m.value)["event_time"])

    newest = None
    for m in released:
        t = event_time(m)
        if m.late:  # held back for 30..120 s of city time: newer events went first
            assert 29 <= (newest - t).total_seconds() <= 121
        newest = t if newest is None else max(newest, t)
    assert all(event_time(m) < newest for m in drained)


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_each_corruption_kind_is_rejected_with_its_reason(kind):
    world = World(seed=1, vehicles=200, start=START)
    events = [e for _ in range(120) for e in world.step()]
    by_contract = {c.name: r for c, r in events}
    for contract in contracts.CONTRACTS[:4]:
        for turn in range(8):
            bad = corrupt(contract, by_contract[contract.name], kind, turn)
            assert contract.parse(bad.payload) == (None, bad.expected_reason)


def test_validation_rules():
    world = World(seed=1, vehicles=200, start=START)
    record = next(r for _ in range(20) for c, r in world.step() if c is contracts.VEHICLE)
    v = contracts.VEHICLE
    assert v.validate(record)[1] is None
    assert v.validate({**record, "event_time": "2026-11-29T08:00:00"})[1] == "naive_timestamp:event_time"
    assert v.validate({**record, "event_time": "2026-11-29T09:00:00+01:00"})[0]["event_time"] == \
        datetime(2026, 11, 29, 8, tzinfo=timezone.utc)
    assert v.validate({**record, "speed_kmh": True})[1] == "wrong_type:speed_kmh"
    assert v.validate({**record, "speed_kmh": float("nan")})[1] == "out_of_range:speed_kmh"
    assert v.validate({**record, "vehicle_type": "ufo"})[1] == "not_allowed:vehicle_type"
    assert v.validate({**record, "event_id": "not-a-uuid"})[1] == "wrong_type:event_id"
    assert v.validate({**record, "vehicle_id": None})[1] == "null_field:vehicle_id"
    assert v.validate({**record, "passenger_count": 3.0})[0]["passenger_count"] == 3
    assert v.validate({**record, "passenger_count": 3.5})[1] == "wrong_type:passenger_count"
    without_optional = {k: val for k, val in record.items() if k != "route_id"}
    assert v.validate(without_optional)[0]["route_id"] is None
    assert v.validate({**record, "firmware": "1.2"})[0].keys() == set(v.field_names)  # extra fields dropped
    assert v.validate([1, 2])[1] == "not_an_object"
    assert v.parse(b"{nope")[1] == "invalid_json"


def test_contracts_are_one_source_of_truth_for_schemas():
    for contract in contracts.CONTRACTS:
        schema = contract.arrow_schema()
        assert schema.names == contract.field_names
        assert schema.field(contract.key).nullable is False
        assert schema.field("event_time").type == pa.timestamp("us", tz="UTC")
        assert {"event_id", "event_time", contract.key} <= set(contract.field_names)
        if contract is not contracts.GPS:  # a raw GPS fix is not matched to any zone or segment yet
            assert any(n in contract.field_names for n in ("zone_id", "segment_id", "vehicle_id"))
        assert {"latitude", "longitude"} <= set(contract.field_names)  # every event is located
        for f in contract.fields:
            assert f.description and f.comment.startswith(f.description)
    assert len({c.topic for c in contracts.CONTRACTS}) == 5
