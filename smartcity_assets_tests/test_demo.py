"""The main command (`smartcity demo`), smaller: it starts a stack of its own, simulates two hours of a city's
morning, runs the platform end to end, and prints one line per mart. Each line's figures are checked here
against the warehouse's BI views, recomputed in pandas from their rows (not with the project's SQL)."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from smartcity import reference
from smartcity_commands import stack

from .helpers import command_env, embedded_settings, query

pytestmark = [pytest.mark.spark, pytest.mark.services]  # Spark and the stack in processes of their own

HOURS = 2
FIRST_HOUR = 6  # the demo's day starts at 06:00 UTC, yesterday
RAIN = ("rain", "heavy_rain")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """(settings, what the demo printed, the BI views of its window as frames); its stack stopped after."""
    settings = embedded_settings(tmp_path_factory.mktemp("demo"))
    env = command_env(settings)
    try:
        done = subprocess.run([sys.executable, "-m", "smartcity_commands.cli", "demo", "--hours", str(HOURS), "--vehicles",
                               "150", "--keep-stack"], capture_output=True, text=True, env=env, timeout=900)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        shown = re.search(r"the city on \w+ (\d\d \w+ \d{4}), 06:00-08:00 UTC", done.stdout)
        assert shown, done.stdout[-3000:]
        day = datetime.strptime(shown.group(1), "%d %B %Y").date()
        assert day == (datetime.now(timezone.utc) - timedelta(days=1)).date() or day == (
            datetime.now(timezone.utc) - timedelta(days=2)).date()  # yesterday, when the demo started
        views = {name: query(settings.warehouse_dsn, f"SELECT * FROM bi.{name} WHERE event_date = %s AND event_hour "
                                                     f"BETWEEN %s AND %s", (day, FIRST_HOUR, FIRST_HOUR + HOURS - 1))
                 for name in ("traffic_congestion", "environment", "weather_impact", "incident_response",
                              "public_transport")}
        yield settings, done.stdout, views
    finally:
        stack.down(settings)


def line(output: str, prefix: str) -> str:
    found = [s.strip() for s in output.splitlines() if s.strip().startswith(prefix + ":")]
    assert len(found) == 1, f"one '{prefix}:' line expected in:\n{output[-3000:]}"
    return found[0]


def close(printed: str, want: float, decimals: int) -> bool:
    return abs(float(printed) - want) <= 0.5 * 10 ** -decimals + 1e-9


def weighted(values: pd.Series, weights: pd.Series) -> float:
    known = values.notna()
    return float((values[known] * weights[known]).sum() / weights[known].sum())


ZONES = {z["zone_id"]: z["zone_name"] for z in reference.zones().to_pylist()}


def test_the_demo_lands_every_hour_it_simulates(demo):
    _, output, views = demo
    assert "all sent events arrived" in output
    assert re.search(r"landed \+ quarantined = ([\d,]+) of \1 sent", output), output[-3000:]
    for name, frame in views.items():
        if name != "incident_response":  # incidents are rare enough that an hour may have none
            assert sorted(frame.event_hour.unique()) == list(range(FIRST_HOUR, FIRST_HOUR + HOURS)), name
    assert "FAILED" not in output


def test_traffic_line(demo):
    tc, printed = demo[2]["traffic_congestion"], line(demo[1], "Traffic")
    tc = tc.assign(congested=tc.congestion_level.isin(["heavy", "severe"]), severe=tc.congestion_level == "severe",
                   heavy=tc.congestion_level == "heavy")
    overall = weighted(tc.travel_time_index, tc.gps_fixes)
    if not tc.congested.any():
        found = re.fullmatch(r"Traffic: no road segment in heavy or severe congestion; travel time index ([\d.]+) "
                             r"overall", printed)
        assert found and close(found.group(1), overall, 2), printed
        return
    per_hour = tc.groupby("event_hour").agg(congested=("congested", "sum"), severe=("severe", "sum"),
                                            heavy=("heavy", "sum")).reset_index()
    worst = per_hour.sort_values(["congested", "severe", "event_hour"], ascending=[False, False, True]).iloc[0]
    at_worst = tc[tc.event_hour == worst.event_hour]
    zones = at_worst[at_worst.congested].groupby("zone_id").size().reset_index(name="n")
    zone = zones.sort_values(["n", "zone_id"], ascending=[False, True]).iloc[0]
    found = re.fullmatch(r"Traffic: worst at (\d\d):00, (\d+) road segments in severe and (\d+) in heavy congestion "
                         r"\(most in (.+): (\d+)\); travel time index ([\d.]+) that hour, ([\d.]+) overall", printed)
    assert found, printed
    assert (int(found.group(1)), int(found.group(2)), int(found.group(3))) == (worst.event_hour, worst.severe,
                                                                               worst.heavy)
    assert (found.group(4), int(found.group(5))) == (ZONES[zone.zone_id], zone.n)
    assert close(found.group(6), weighted(at_worst.travel_time_index, at_worst.gps_fixes), 2)
    assert close(found.group(7), overall, 2)


def test_environment_line(demo):
    env, printed = demo[2]["environment"], line(demo[1], "Environment")
    worst = env.sort_values(["mean_aqi", "zone_name", "event_hour"], ascending=[False, True, True]).iloc[0]
    found = re.match(r"Environment: air worst in (.+) at (\d\d):00 \(mean AQI (\d+)\), (\d+) zone-minutes above the "
                     r"alert level \(AQI 100\); (.*)", printed)
    assert found, printed
    assert (found.group(1), int(found.group(2))) == (worst.zone_name, worst.event_hour)
    assert close(found.group(3), worst.mean_aqi, 0)
    assert int(found.group(4)) == env.minutes_over_aqi_alert.sum()
    if env.precipitation_mm.max() <= 0:
        assert found.group(5) == "no rain"
        return
    wettest = env.sort_values(["precipitation_mm", "zone_name", "event_hour"], ascending=[False, True, True]).iloc[0]
    rain = re.fullmatch(r"rain heaviest in (.+) at (\d\d):00 \(([\d.]+) mm in the hour\)", found.group(5))
    assert rain and (rain.group(1), int(rain.group(2))) == (wettest.zone_name, wettest.event_hour), printed
    assert close(rain.group(3), wettest.precipitation_mm, 1)


def test_weather_impact_line(demo):
    wi, printed = demo[2]["weather_impact"], line(demo[1], "Weather impact")
    wet = wi[wi.condition.isin(RAIN)]
    if wet.empty:
        assert printed == "Weather impact: no rain in the window"
        return
    dry = wi[~wi.condition.isin(RAIN)]
    found = re.fullmatch(r"Weather impact: (.*); (\d+) of (\d+) incidents \(those in a minute with a reading\) were "
                         r"reported in rain \((\d+) of (\d+) zone-minutes\)", printed)
    assert found, printed
    assert [int(found.group(i)) for i in (2, 3, 4, 5)] == [wet.incidents_reported.sum(), wi.incidents_reported.sum(),
                                                           wet.minutes.sum(), wi.minutes.sum()]
    speeds = re.fullmatch(r"traffic moved at (\d+)% of the speed limit in rain against (\d+)% in dry weather",
                          found.group(1))
    if not (wet.gps_fixes.sum() and dry.gps_fixes.sum()):
        assert found.group(1) == "too few GPS fixes to compare speeds", printed
        return
    assert speeds, printed
    assert close(speeds.group(1), 100 * weighted(wet.mean_speed_ratio, wet.gps_fixes), 0)
    assert close(speeds.group(2), 100 * weighted(dry.mean_speed_ratio, dry.gps_fixes), 0)


def test_incidents_line(demo):
    inc, printed = demo[2]["incident_response"], line(demo[1], "Incidents")
    if inc.empty:
        assert printed == "Incidents: none reported in the window"
        return
    found = re.fullmatch(r"Incidents: (\d+) reported \((\d+) collisions, (\d+) of severity 4-5\), (\d+) resolved, "
                         r"(\d+) still open; (.*)", printed)
    assert found, printed
    resolved = int(inc.resolved_at.notna().sum())
    assert [int(found.group(i)) for i in range(1, 6)] == [
        len(inc), int((inc.incident_type == "collision").sum()), int((inc.severity >= 4).sum()), resolved,
        len(inc) - resolved]
    times = inc.minutes_to_scene.dropna()
    response = re.fullmatch(r"response time \(reported -> on scene\) median ([\d.]+) min, 90th percentile ([\d.]+) "
                            r"min", found.group(6))
    assert response, printed
    assert close(response.group(1), np.percentile(times, 50), 1)
    assert close(response.group(2), np.percentile(times, 90), 1)


def test_buses_line(demo):
    bus, printed = demo[2]["public_transport"], line(demo[1], "Buses")
    found = re.fullmatch(r"Buses: (\d+) buses on (\d+) routes, mean headway ([\d.]+) min; least regular (\S+) "
                         r"\(headway CV ([\d.]+), (\d+) bunched headways, excess wait ([\d.]+) min\)", printed)
    assert found, printed
    routes = {}
    for route, rows in bus.groupby("route_id"):
        routes[route] = dict(cv=weighted(rows.headway_cv, rows.headways), bunched=int(rows.bunched_headways.sum()),
                             excess=weighted(rows.excess_wait_min, rows.headways), buses=int(rows.buses.max()))
    assert (int(found.group(1)), int(found.group(2))) == (sum(r["buses"] for r in routes.values()), len(routes))
    assert close(found.group(3), weighted(bus.mean_headway_min, bus.headways), 1)
    least = min(routes, key=lambda r: (-routes[r]["cv"], r))
    assert found.group(4) == least
    assert close(found.group(5), routes[least]["cv"], 2)
    assert int(found.group(6)) == routes[least]["bunched"]
    assert close(found.group(7), routes[least]["excess"], 1)


def test_live_line(demo):
    """The live tables the demo's stream kept, as the one printed line says (counted here with plain SQL)."""
    settings, output, _ = demo
    found = re.search(r"^  Live \(as of (\d\d:\d\d) UTC event time\): (\d+) road segments with traffic in the last "
                      r"15 min, (\d+) heavy or severe; (\d+) open incidents, (\d+) resolved in the last 1 h; (\d+) "
                      r"zones under an AQI alert; (\d+) bus routes", output, re.M)
    assert found, output[-3000:]
    dsn = settings.warehouse_dsn
    segments = query(dsn, "SELECT congestion_15m FROM live.segment_traffic")
    incidents = query(dsn, "SELECT status FROM live.incidents")
    assert found.group(1) == f"{query(dsn, 'SELECT event_time FROM live.clock').event_time[0]:%H:%M}"
    assert int(found.group(2)) == len(segments) > 0
    assert int(found.group(3)) == segments.congestion_15m.isin(["heavy", "severe"]).sum()
    assert int(found.group(4)) == (incidents.status != "resolved").sum()
    assert int(found.group(5)) == (incidents.status == "resolved").sum()
    assert int(found.group(6)) == query(dsn, "SELECT COUNT(*) AS n FROM live.zone_conditions WHERE aqi_alert").n[0]
    assert int(found.group(7)) == query(dsn, "SELECT COUNT(*) AS n FROM live.bus_routes").n[0] > 0
