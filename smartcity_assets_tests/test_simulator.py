"""Simulator physics: cameras count what passes, incidents follow their lifecycle, seeds are reproducible."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone

import numpy as np
import orjson

from smartcity import contracts
from smartcity.contracts.event_time import FIRST_EVENT_TIME
from smartcity.simulator.run import UNBOUNDED_LOOKBACK, EventStream, SimulationConfig, default_start, seconds_ahead
from smartcity.simulator.world import CAMERA_WINDOW_S, World

START = datetime(2026, 11, 29, 7, 0, tzinfo=timezone.utc)
TYPE_FIELDS = ("car_count", "bus_count", "truck_count", "emergency_count")


def test_camera_counts_agree_with_vehicles_that_passed():
    """Watch every vehicle's position second by second and count camera-line crossings ourselves."""
    world = World(seed=11, vehicles=1500, start=START)
    city = world.city
    expected: dict[tuple[str, int], Counter] = defaultdict(Counter)
    speeds: dict[tuple[str, int], list[float]] = defaultdict(list)
    reports = []
    for _ in range(10 * CAMERA_WINDOW_S):
        seg_before, pos_before = world.seg.copy(), world.pos.copy()
        events = world.step()
        line = city.camera_line_m[seg_before]
        passed = np.isfinite(line) & (pos_before < line) & ((world.seg != seg_before) | (world.pos >= line))
        window_end = -(-world.tick // CAMERA_WINDOW_S) * CAMERA_WINDOW_S
        for i in np.flatnonzero(passed):
            cam = city.cameras[city.camera_of_segment[seg_before[i]]].camera_id
            expected[(cam, window_end)][TYPE_FIELDS[world.vtype[i]]] += 1
            speeds[(cam, window_end)].append(world.speed[i] * 3.6)
        reports += [(world.tick, r) for c, r in events if c is contracts.TRAFFIC_CAMERA]

    assert len(reports) == 10 * len(city.cameras)
    total = 0
    for tick, r in reports:
        want = expected.get((r["camera_id"], tick), Counter())
        got = {f: r[f] for f in TYPE_FIELDS}
        assert got == {f: want[f] for f in TYPE_FIELDS}, (r, want)
        assert r["vehicle_count"] == sum(got.values())
        assert r["segment_id"] == city.segments[city.cameras[int(r["camera_id"][4:]) - 1].segment].segment_id
        if r["vehicle_count"]:
            assert abs(r["mean_speed_kmh"] - np.mean(speeds[(r["camera_id"], tick)])) <= 0.051
        else:
            assert r["mean_speed_kmh"] is None
        total += r["vehicle_count"]
    assert total > 1000  # a busy morning, not an empty city


def test_incidents_follow_the_lifecycle_in_order():
    world = World(seed=4, vehicles=1500, start=START)
    updates = defaultdict(list)
    for _ in range(2 * 3600):
        for c, r in world.step():
            if c is contracts.EMERGENCY:
                updates[r["incident_id"]].append(r)
    assert len(updates) >= 10
    order = contracts.INCIDENT_STATUSES
    resolved = 0
    for incident_id, events in updates.items():
        statuses = [e["status"] for e in events]
        assert statuses == list(order[: len(statuses)]), (incident_id, statuses)  # no skips, no repeats
        times = [e["event_time"] for e in events]
        assert times == sorted(times)
        assert events[0]["unit_id"] is None
        assert len({e["unit_id"] for e in events[1:]}) <= 1 and all(e["unit_id"] for e in events[1:])
        assert len({(e["incident_type"], e["severity"], e["zone_id"]) for e in events}) == 1
        resolved += statuses[-1] == "resolved"
        if events[0]["incident_type"] == "collision":
            assert events[0]["vehicles_involved"] >= 1 and events[0]["segment_id"] is not None
    assert resolved >= len(updates) // 2
    # a responding unit really drives to the scene: it is on_scene only after being dispatched
    assert all(e["unit_id"].startswith("VEH-") for evs in updates.values() for e in evs[1:])


def test_rain_fronts_reach_the_weather_stations():
    world = World(seed=2, vehicles=100, start=START)
    readings = [r for _ in range(4 * 3600) for c, r in world.step() if c is contracts.WEATHER]
    assert len(readings) == 4 * 60 * len(world.city.stations)
    wet = [r for r in readings if r["precipitation_mm_h"] > 0.2]
    assert wet and all(r["condition"] in ("rain", "heavy_rain", "snow") for r in wet)
    assert all(r["humidity_pct"] > 70 for r in wet)  # rain comes with humid air
    # the front sweeps west to east: the western zones get wet before the eastern ones
    first_wet = {}
    for r in wet:
        first_wet.setdefault(r["zone_id"], r["event_time"])
    assert {"Z01", "Z03"} <= set(first_wet), first_wet  # both zones get rain, so the order below means something
    assert first_wet["Z01"] <= first_wet["Z03"]


def _messages(seed: int, n: int = 5000, start: datetime | None = START, **config) -> list:
    stream = EventStream(SimulationConfig(events=n, seed=seed, start=start, late_share=0.05,
                                          malformed_share=0.05, **config))
    out = []
    while stream.generated < n:
        out.extend(stream.tick(n - stream.generated))
    return out + stream.drain()


def test_same_seed_same_events_other_seed_other_events():
    a, b, c = _messages(7), _messages(7), _messages(8)
    assert [(m.topic, m.key, m.value) for m in a] == [(m.topic, m.key, m.value) for m in b]
    assert [m.value for m in a] != [m.value for m in c]


# -- ids: a run's own, never another run's -------------------------------------------------------------------------

def _ids(messages: list) -> set[str]:
    """The event ids of the messages that carry one (a malformed message may have lost it)."""
    return {orjson.loads(m.value).get("event_id") for m in messages if m.malformed != "bad_json"} - {None}


def assert_disjoint(a: set[str], b: set[str]) -> None:
    assert a and b, "no ids to compare"
    shared = a & b
    assert not shared, f"{len(shared)} of {len(a)} ids are shared, e.g. {sorted(shared)[:3]}"


def _incident_ids(seed: int, start: datetime | None, seconds: int = 1800) -> set[str]:
    world = World(seed=seed, vehicles=50, start=start)
    return {r["incident_id"] for _ in range(seconds) for c, r in world.step() if c is contracts.EMERGENCY}


def test_runs_started_at_different_times_never_share_ids():
    """`smartcity up` (seed 42, start = now) at 10:00 and again at 10:40: other events, so other ids."""
    a, b = _messages(42, start=START), _messages(42, start=START + timedelta(minutes=40))
    assert_disjoint(_ids(a), _ids(b))


def test_runs_without_a_start_never_share_ids_even_in_the_same_second():
    """Two runs with the default seed and no --start (what `smartcity up` starts; a restart within the same
    second, or two simulators side by side): each run is a run of its own."""
    a, b = _messages(42, start=None), _messages(42, start=None)
    assert_disjoint(_ids(a), _ids(b))
    assert_disjoint(_incident_ids(42, None), _incident_ids(42, None))  # no new INC-000001 merging into an old one


def test_incident_ids_depend_on_the_run_not_only_on_the_seed():
    same = _incident_ids(42, START)
    assert_disjoint(same, _incident_ids(42, START + timedelta(hours=1)))
    assert same == _incident_ids(42, START)  # a replay (same seed and start) is the same incidents


def test_a_replay_with_other_world_parameters_is_not_the_same_events():
    """Same seed and start but another fleet: other events, so other ids (a replay is only the same events)."""
    a = _messages(42, start=START)
    b = _messages(42, start=START, vehicles=300)
    assert [m.value for m in a] != [m.value for m in b]
    assert_disjoint(_ids(a), _ids(b))


# -- event times: never ahead of the wall clock -----------------------------------------------------------------------

def _last_event_time(config: SimulationConfig) -> datetime:
    """The latest event time of every event the run would send (late ones included), without Kafka."""
    stream, latest = EventStream(config), datetime.min.replace(tzinfo=timezone.utc)
    while stream.generated < config.events:
        for m in stream.tick(config.events - stream.generated) + ([] if stream.generated < config.events
                                                                  else stream.drain()):
            if m.malformed is None:
                latest = max(latest, datetime.fromisoformat(orjson.loads(m.value)["event_time"]))
    return latest


def test_an_unpaced_run_without_a_start_ends_before_it_began():
    """`simulate --speed 0` (and the benchmarks) start in the past: even produced all at once, no event is
    stamped after the moment the run began, so none is quarantined as ahead of its ingest time. Big and small
    fleets, at the full GPS rate and at the demo's sparse one."""
    for vehicles, car_every, fleet_every, events in [(2000, 5, 5, 20_000), (600, 90, 15, 3_000), (50, 5, 5, 3_000)]:
        began = datetime.now(timezone.utc)
        config = SimulationConfig(events=events, speed=0.0, vehicles=vehicles, car_gps_every_s=car_every,
                                  fleet_gps_every_s=fleet_every, late_share=0.05)
        assert _last_event_time(config) <= began, (vehicles, car_every, fleet_every)


def test_default_start_of_each_kind_of_run():
    now = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
    start = lambda **kw: default_start(SimulationConfig(**{"events": 10, **kw}), now)  # noqa: E731
    assert start(speed=1.0) == now and start(speed=0.5, duration_s=math.inf) == now  # paced: now (`smartcity up`)
    assert start(speed=10.0, events=None, duration_s=60) <= now - timedelta(seconds=600)  # 600 s of city time
    assert start(speed=0.0, events=None, city_seconds=7200) <= now - timedelta(hours=2)
    assert start(speed=0.0, events=None, duration_s=math.inf) == now - UNBOUNDED_LOOKBACK  # unbounded: an hour
    assert start(speed=0.0, events=10**12) == FIRST_EVENT_TIME  # never before the first accepted event time


def test_a_run_given_its_start_keeps_it():
    given = datetime(2030, 1, 1, tzinfo=timezone.utc)  # far ahead: honoured (the run warns, see run_simulation)
    assert EventStream(SimulationConfig(events=10, start=given)).world.start == given


def test_seconds_ahead_counts_to_the_end_of_the_simulated_second():
    now = datetime(2026, 12, 7, 12, 0, 0, 500_000, tzinfo=timezone.utc)
    assert seconds_ahead(datetime(2026, 12, 7, 12, 0, 0, tzinfo=timezone.utc), now) == 0.5
    assert seconds_ahead(datetime(2026, 12, 7, 11, 0, 0, tzinfo=timezone.utc), now) < 0
