"""The live dashboard on real components.

In the browser test a real `smartcity dashboard` process reads a PostgreSQL database of the test's own, which the
real streaming job fills from a broker of the test's own; headless Chromium (Debian's) driven by Playwright reads
the page as a user (or a screen reader) does: headings, table cells, the map's ARIA labels. Expected values come
from plain SQL over the live tables, never from the dashboard's own code. The page is opened before anything
landed (it says so), fills once the stream has run, and shows an incident produced to Kafka during the test
without being reloaded.

The query module is also tested alone on hand-filled live and mart tables, against pandas.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import uuid
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import psycopg2
import pytest

from smartcity import reference
from smartcity.contracts import INCIDENT_TYPES
from smartcity_commands.dashboard import queries
from smartcity.lake.layout import Hour
from smartcity.marts import ENVIRONMENT, INCIDENT_RESPONSE, PUBLIC_TRANSPORT, TRAFFIC_CONGESTION, WEATHER_IMPACT
from smartcity.report.charts import LEVEL_COLOURS, NO_DATA
from smartcity_commands.stack import free_port
from smartcity.warehouse.base import PartitionData
from smartcity.warehouse.headlines import Window
from smartcity.warehouse.live import LiveLayer
from smartcity.warehouse.postgres import PostgresWarehouse

from .dagster_ui import ROOT, chromium_missing, launch_chromium
from .helpers import command_env, drain, land, mart_rows, query, send_events, smartcity, wait_until

ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
START = datetime(2026, 11, 29, 8, 0, tzinfo=timezone.utc)
SEGMENTS = {s["segment_id"]: s for s in reference.segments().to_pylist()}
ZONES = {z["zone_id"]: z for z in reference.zones().to_pylist()}
MAP = "Congestion in the last 15 min of event time, open incidents"

_missing = chromium_missing()
if _missing and os.environ.get("SMARTCITY_REQUIRE_BROWSER_TESTS") == "1":
    raise RuntimeError(f"browser tests required (SMARTCITY_REQUIRE_BROWSER_TESTS=1) but {_missing}")
browser_test = pytest.mark.skipif(bool(_missing), reason=f"browser tests: {_missing}")


# -- events written by hand ---------------------------------------------------------------------------------------

def incident(incident_id: str, status: str, at: datetime, segment: str = "SEG-0120", unit: str | None = None) -> dict:
    s = SEGMENTS[segment]
    return {"event_id": str(uuid.uuid4()), "incident_id": incident_id, "event_time": at, "incident_type": "collision",
            "severity": 4, "status": status, "latitude": (s["start_lat"] + s["end_lat"]) / 2,
            "longitude": (s["start_lon"] + s["end_lon"]) / 2, "zone_id": s["zone_id"], "segment_id": segment,
            "unit_id": unit, "vehicles_involved": 2}


def reading(zone: str, at: datetime, aqi: int) -> dict:
    z = ZONES[zone]
    return {"event_id": str(uuid.uuid4()), "station_id": f"WS-{zone}", "event_time": at, "zone_id": zone,
            "latitude": z["zone_latitude"], "longitude": z["zone_longitude"], "temperature_c": 6.0,
            "humidity_pct": 70.0, "precipitation_mm_h": 0.0, "wind_speed_ms": 0.5, "wind_direction_deg": 90.0,
            "pressure_hpa": 1020.0, "air_quality_index": aqi, "pm25_ugm3": aqi / 4, "condition": "fog"}


# -- what the warehouse holds, by plain SQL -------------------------------------------------------------------------

def live_clock(dsn: str) -> pd.Timestamp:
    return query(dsn, "SELECT event_time FROM live.clock").event_time[0].tz_convert("UTC")


def expected_map(dsn: str) -> dict[str, str]:
    """Segment -> its level in the last 15 minutes ("no data" without traffic)."""
    rows = query(dsn, "SELECT s.segment_id, COALESCE(t.congestion_15m, 'no data') AS level FROM live.segments AS s "
                      "LEFT JOIN live.segment_traffic AS t ON t.segment_id = s.segment_id")
    return dict(zip(rows.segment_id, rows.level))


def open_incidents(dsn: str) -> pd.DataFrame:
    return query(dsn, "SELECT incident_id, status, minutes_since_reported, unit_id FROM live.incidents "
                      "WHERE status <> 'resolved'")


# -- what the page shows ----------------------------------------------------------------------------------------------

def table(page, first_column: str) -> list[dict[str, str]]:
    """The rows of the table whose first column is headed `first_column`, as {header: cell text}."""
    for found in page.get_by_role("table").all():
        rows = found.get_by_role("row").all()
        header = rows[0].get_by_role("columnheader").all_inner_texts() if rows else []
        if header and header[0].strip() == first_column:
            return [dict(zip(header, (t.strip() for t in r.get_by_role("cell").all_inner_texts()))) for r in rows[1:]]
    return []


def chart_marks(page, title: str) -> list[tuple[str, str]]:
    """(ARIA label, stroke colour) of every mark the chart of that title drew (its legends' and title's too)."""
    chart = page.locator(f'[role="graphics-document"][aria-label="{title}"]')
    return chart.locator('[role="graphics-symbol"]').evaluate_all(
        "marks => marks.map(m => [m.getAttribute('aria-label'), m.getAttribute('stroke')])")


def drawn_map(page) -> list[tuple[str, str]]:
    return chart_marks(page, MAP)


def shows(what: str, probe, page, shot: str):
    """Wait until `probe()` is truthy (the page refreshes by itself); on failure, a screenshot and the last value."""
    seen = {}

    def attempt():
        seen["value"] = probe()
        return seen["value"]

    try:
        return wait_until(what, attempt, timeout_s=180, every_s=1, details=lambda: f"last seen: {seen.get('value')}")
    except AssertionError:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTIFACTS / f"{shot}.png", full_page=True)
        raise


def assert_page_equals_the_live_tables(page, dsn: str) -> None:
    clock = live_clock(dsn)
    shows("the live clock", lambda: page.get_by_text(f"as of {clock:%H:%M:%S} event time").count(), page, "clock")
    last_write = query(dsn, "SELECT MAX(applied_at) AS applied FROM live.stream_progress").applied[0].tz_convert("UTC")
    shows("when the stream last wrote", lambda: page.get_by_text(f"the stream last wrote at {last_write:%H:%M:%S} UTC")
          .count(), page, "last-write")

    # the map: every road segment, labelled and coloured with its level (the city report's colours)
    levels = expected_map(dsn)

    def map_matches():
        drawn = {label.split(" ")[0]: (label.rsplit(": ", 1)[1], stroke) for label, stroke in drawn_map(page)
                 if label.startswith("SEG-")}
        return drawn if {s: level for s, (level, _) in drawn.items()} == levels else None

    drawn = shows("the map's segments and levels", map_matches, page, "map")
    assert all(stroke == LEVEL_COLOURS.get(level, NO_DATA) for level, stroke in drawn.values())
    counts = pd.Series(levels).value_counts()
    by_level = shows("the segments-by-level table", lambda: table(page, "Level"), page, "levels")
    assert {r["Level"]: int(r["Road segments"]) for r in by_level} == {
        level: int(counts.get(level, 0)) for level in [*LEVEL_COLOURS, "no data"]}

    # open incidents: in the table with their status, age and unit, and on the map
    expected = open_incidents(dsn)
    want = {r.incident_id: {"Status": r.status.replace("_", " "), "Age (min)": f"{r.minutes_since_reported:.0f}",
                            "Unit": r.unit_id or ""} for r in expected.itertuples()}
    shows("the open incidents", lambda: {r["Incident"]: {k: r[k] for k in ("Status", "Age (min)", "Unit")}
                                         for r in table(page, "Incident")} == want, page, "incidents")
    assert page.get_by_role("heading", name=f"Open incidents ({len(expected)})").count() == 1
    marker = re.compile(rf"^(\S+) ({'|'.join(INCIDENT_TYPES)}), \w+$")  # "INC-0042 collision, dispatched"
    assert {m.group(1) for label, _ in drawn_map(page) if (m := marker.match(label))} == set(want)

    # zones: air quality and the alert; bus routes: buses and headway
    zones = query(dsn, "SELECT zone_id, air_quality_index, aqi_alert FROM live.zone_conditions")
    want_zones = {ZONES[r.zone_id]["zone_name"]: (str(r.air_quality_index), "AQI alert" if r.aqi_alert else "")
                  for r in zones.itertuples()}
    shows("the zones", lambda: {r["Zone"]: (r["AQI"], r["Alert"]) for r in table(page, "Zone")} == want_zones,
          page, "zones")
    routes = query(dsn, "SELECT route_id, buses, headway_min FROM live.bus_routes")
    want_routes = {r.route_id: (str(r.buses), f"{r.headway_min:.1f}") for r in routes.itertuples()}
    shows("the bus routes", lambda: {r["Route"]: (r["Buses"], r["Headway (min)"]) for r in table(page, "Route")}
          == want_routes, page, "routes")


# -- the browser test --------------------------------------------------------------------------------------------------

@pytest.fixture
def dashboard(pipeline, warehouse, tmp_path):
    """`smartcity dashboard` on a free port against the test's warehouse (as a user's shell runs it): its URL."""
    port = free_port()
    log = tmp_path / "dashboard.out"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "smartcity_commands.cli", "dashboard", "--port", str(port)],
                                   env=command_env(pipeline, SMARTCITY_WAREHOUSE_URL=warehouse), cwd=tmp_path,
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until("the dashboard to print its address", lambda: f"Live dashboard: {url}" in log.read_text(),
                   alive=lambda: process.poll() is None, details=lambda: log.read_text())
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    output = log.read_text()
    assert process.returncode == 0 and "dashboard stopped" in output, output


@pytest.fixture
def page(dashboard):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = browser.new_context(base_url=dashboard, viewport={"width": 1500, "height": 1400})
        context.set_default_timeout(60_000)
        yield context.new_page()
        context.close()
        browser.close()


@browser_test
def test_the_dashboard_shows_the_live_tables_and_a_new_incident_without_a_reload(pipeline, spark, warehouse, page):
    page.goto("/")
    page.get_by_role("heading", name="Live city operations").wait_for()
    page.get_by_text("no live data yet: is smartcity stream running?").wait_for()  # nothing landed yet (`code`)
    page.evaluate("() => { window.openedOnce = true; }")  # gone if the page were loaded again

    land(pipeline, spark, events=12_000, start=START, vehicles=300, seed=7)
    clock = live_clock(warehouse).to_pydatetime()
    send_events(pipeline, {  # an open and a resolved incident, and an air-quality alert in Harbour
        "emergency": [incident("INC-OPEN", "reported", clock - timedelta(minutes=12)),
                      incident("INC-OPEN", "dispatched", clock - timedelta(minutes=9), unit="EMG-0042"),
                      incident("INC-DONE", "reported", clock - timedelta(minutes=30), segment="SEG-0300"),
                      incident("INC-DONE", "resolved", clock - timedelta(minutes=2), segment="SEG-0300",
                               unit="EMG-0007")],
        "weather": [reading("Z03", clock + timedelta(seconds=1), 160)]})
    drain(pipeline, spark)
    assert_page_equals_the_live_tables(page, warehouse)
    assert {"INC-OPEN"} <= set(open_incidents(warehouse).incident_id)
    assert query(warehouse, "SELECT aqi_alert FROM live.zone_conditions WHERE zone_id = 'Z03'").aqi_alert[0]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "live.png", full_page=True)

    # an incident reported now reaches the page by itself
    new = f"INC-{uuid.uuid4().hex[:8].upper()}"
    send_events(pipeline, {"emergency": [incident(new, "reported", live_clock(warehouse) + timedelta(seconds=30),
                                                  segment="SEG-0042")]})
    drain(pipeline, spark)
    shows(f"the new incident {new}", lambda: any(r["Incident"] == new and r["Status"] == "reported"
                                                  for r in table(page, "Incident")), page, "new-incident")
    assert page.evaluate("() => window.openedOnce === true")  # the same page: it was not reloaded
    assert_page_equals_the_live_tables(page, warehouse)
    page.screenshot(path=ARTIFACTS / "live-new-incident.png", full_page=True)

    # the hourly marts page, with no mart in this warehouse yet, says so
    page.get_by_role("link", name="Hourly marts").click()
    page.get_by_text("no hourly marts in the warehouse yet").wait_for()


@browser_test
def test_the_hourly_marts_page_shows_the_report_charts(warehouse, page):
    fill_marts(warehouse)
    page.goto("/hourly")
    page.get_by_role("heading", name="Hourly marts").wait_for()
    for heading in ("Traffic congestion", "City map: congestion and incidents", "Air quality", "Bus regularity",
                    "Weather impact"):
        page.get_by_role("heading", name=heading).wait_for()
    page.get_by_text(f"Incidents: {len(INCIDENTS)} reported").wait_for()  # the demo's line, as a caption

    # the heatmap over the whole day by default (07:00-09:00): one cell per zone, road class and hour
    cell = re.compile(r"^(.+) at (\d\d:00): speed / limit (\d\.\d\d)$")
    heatmap = "Congestion by zone, road class and hour: mean speed / speed limit over all GPS fixes"
    cells = shows("the heatmap", lambda: {(m.group(1), m.group(2)): m.group(3)
                                          for label, _ in chart_marks(page, heatmap) if (m := cell.match(label))},
                  page, "heatmap")
    want = {(f"{ZONES[z]['zone_name']} · {c}", f"{h:02d}:00"): f"{v:.2f}"
            for (z, c, h), v in expected_heatmap(TRAFFIC, 7, 9).items()}
    assert cells == want

    # the city map of the last hour: its observed segments in their level's colour, the window's incidents
    city = "Road segments by congestion at 09:00 UTC; incidents reported 07:00-09:59"
    marks = shows("the city map", lambda: chart_marks(page, city), page, "hourly-map")
    roads = {label.split(" ")[0]: (label.rsplit(": ", 1)[1], stroke) for label, stroke in marks
             if label.startswith("SEG-")}
    hour9 = {r["segment_id"]: r["congestion_level"] for r in TRAFFIC if r["event_hour"] == 9}
    assert {s: level for s, (level, _) in roads.items() if level != "no data"} == hour9
    assert len(roads) == len(SEGMENTS) and all(stroke == LEVEL_COLOURS.get(level, NO_DATA)
                                               for level, stroke in roads.values())
    assert {label.split(" ")[0] for label, _ in marks if label.startswith("INC-")} == {i["incident_id"]
                                                                                      for i in INCIDENTS}
    for chart in ("Air quality by zone", "Bus headway regularity by route", "Traffic and incidents by weather"):
        assert page.locator(f'[role="graphics-document"][aria-label^="{chart}"]').count() == 1
    assert page.get_by_text("refused").count() == page.get_by_text("no summary line").count() == 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "hourly.png", full_page=True)


# -- marts written by hand ---------------------------------------------------------------------------------------------

DAY = date(2026, 11, 29)
TRAFFIC = [{"event_date": DAY, "event_hour": h, "segment_id": f"SEG-{n:04d}", "zone_id": z, "road_class": c,
            "gps_fixes": fixes, "speed_ratio": ratio, "congestion_level": level,
            "travel_time_index": None if ratio is None else round(1 / ratio, 3)}
           for h, n, z, c, fixes, ratio, level in [
               (7, 1, "Z01", "ring", 10, 0.9, "free"), (7, 2, "Z01", "ring", 30, 0.5, "heavy"),
               (7, 3, "Z01", "arterial", 5, 0.35, "severe"), (8, 1, "Z01", "ring", 0, None, None),
               (8, 2, "Z01", "ring", 20, 0.7, "moderate"), (9, 4, "Z02", "residential", 8, 0.95, "free")]]
WEATHER = [{"event_date": DAY, "event_hour": h, "zone_id": z, "condition": c, "minutes": m, "gps_fixes": f,
            "mean_speed_ratio": r, "incidents_reported": i}
           for h, z, c, m, f, r, i in [(7, "Z01", "rain", 40, 100, 0.6, 2), (7, "Z01", "clear", 20, 50, 0.9, 0),
                                       (8, "Z02", "rain", 60, 0, None, 1), (9, "Z01", "clear", 60, 80, 0.8, 1)]]
AIR = [{"event_date": DAY, "event_hour": h, "zone_id": z, "zone_name": ZONES[z]["zone_name"], "readings": 60,
        "mean_aqi": aqi, "max_aqi": int(aqi) + 10, "minutes_over_aqi_alert": over, "precipitation_mm": rain}
       for h, z, aqi, over, rain in [(7, "Z01", 60.0, 0, 0.5), (8, "Z01", 104.0, 35, 0.0), (9, "Z02", 45.0, 0, 1.5)]]
BUSES = [{"event_date": DAY, "event_hour": h, "route_id": r, "buses": 4, "headways": 12, "mean_headway_min": 6.0,
          "headway_cv": cv, "excess_wait_min": 1.0, "bunched_headways": 2, "service_gaps": gaps}
         for h, r, cv, gaps in [(7, "R1", 0.3, 0), (8, "R1", 0.8, 2), (8, "R2", 0.4, 1)]]
INCIDENTS = [{"event_date": DAY, "event_hour": 8, "incident_id": i, "incident_type": kind, "severity": sev,
              "zone_id": "Z01", "zone_name": ZONES["Z01"]["zone_name"], "segment_id": seg, "status": "on_scene",
              "reported_at": datetime(2026, 11, 29, 8, 10, tzinfo=timezone.utc), "minutes_to_scene": 9.0}
             for i, kind, sev, seg in [("INC-A", "collision", 4, "SEG-0002"), ("INC-B", "fire", 2, None)]]


def fill_marts(dsn: str) -> None:
    """The mart tables and bi views, loaded as the mart assets load them, with the rows above."""
    target = PostgresWarehouse(dsn)
    for mart, rows in ((TRAFFIC_CONGESTION, TRAFFIC), (WEATHER_IMPACT, WEATHER), (ENVIRONMENT, AIR),
                       (PUBLIC_TRANSPORT, BUSES), (INCIDENT_RESPONSE, INCIDENTS)):
        target.ensure_table(mart)
        for hour in sorted({r["event_hour"] for r in rows}):
            part = [r for r in rows if r["event_hour"] == hour]
            target.replace_partition(mart, PartitionData(Hour(DAY.isoformat(), hour), mart_rows(mart, part),
                                                         "file:///unused"))


def expected_heatmap(rows: list[dict], first: int, last: int) -> pd.Series:
    """(zone · road class, HH:00) -> GPS-fix-weighted speed ratio, as the report computes it."""
    frame = pd.DataFrame(rows)
    frame = frame[frame.event_hour.between(first, last) & frame.speed_ratio.notna() & (frame.gps_fixes > 0)]
    keys = [frame.zone_id, frame.road_class, frame.event_hour]
    return (frame.speed_ratio * frame.gps_fixes).groupby(keys).sum() / frame.gps_fixes.groupby(keys).sum()


# -- the command's errors ----------------------------------------------------------------------------------------------

def test_a_bad_port_or_an_unreachable_warehouse_is_a_one_line_error(broker_only, tmp_path):
    env = command_env(broker_only, SMARTCITY_WAREHOUSE_URL=f"postgresql://reader@127.0.0.1:{free_port()}/city")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        busy = taken.getsockname()[1]
        cases = {("dashboard", "--port", "0"): "--port 0 is not a TCP port (1-65535)",
                 ("dashboard", "--port", "70000"): "--port 70000 is not a TCP port (1-65535)",
                 ("dashboard", "--port", str(busy)): f"port {busy} for the live dashboard is already in use",
                 ("dashboard", "--port", str(free_port())): "cannot connect to the warehouse at 127.0.0.1:",
                 ("up", "--ui-port", str(free_port()), "--dashboard-port", str(busy)):
                     f"port {busy} for the live dashboard is already in use by another program; stop that program "
                     "or set --dashboard-port to a free port"}
        for args, message in cases.items():
            done = smartcity(*args, env=env, cwd=tmp_path)
            assert done.returncode == 2 and message in done.stderr, (args, done.stdout, done.stderr)
            assert "Traceback" not in done.stderr and "reader" not in done.stderr  # no user name or password
            assert "started" not in done.stdout  # `up` checks its ports before it starts anything


# -- the query module alone --------------------------------------------------------------------------------------------

def test_no_live_data_before_the_stream_wrote(warehouse):
    target = PostgresWarehouse(warehouse)
    with queries.reading(target) as cur:
        assert queries.live_snapshot(cur) is None  # no live schema at all
    LiveLayer(target).ensure()
    with queries.reading(target) as cur:
        assert queries.live_snapshot(cur) is None  # the tables, but no micro-batch yet


def test_the_dashboard_reads_in_a_read_only_transaction(warehouse):
    with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
        with queries.reading(PostgresWarehouse(warehouse)) as cur:
            cur.execute("CREATE TABLE written_by_the_dashboard (a INTEGER)")


def test_the_live_snapshot_is_what_the_live_tables_hold(warehouse):
    target = PostgresWarehouse(warehouse)
    LiveLayer(target).ensure()
    clock = datetime(2026, 11, 29, 9, 30, 15, tzinfo=timezone.utc)
    applied = datetime(2026, 12, 1, 12, 0, 1, tzinfo=timezone.utc)
    with psycopg2.connect(warehouse) as conn, conn.cursor() as cur:
        cur.execute("UPDATE live.clock SET event_time = %s", (clock,))
        cur.execute("INSERT INTO live.stream_progress VALUES ('a', 7, %s, 10), ('b', 2, %s, 5)",
                    (applied, applied - timedelta(hours=1)))
        cur.execute("INSERT INTO live.segment_traffic (segment_id, congestion_5m, congestion_15m, gps_fixes_15m) "
                    "VALUES ('SEG-0001', NULL, 'heavy', 4), ('SEG-0002', 'free', 'moderate', 9)")
        cur.execute("INSERT INTO live.incidents (incident_id, status, reported_at, minutes_since_reported) VALUES "
                    "('INC-1', 'reported', %(t)s - INTERVAL '5 minutes', 5), "
                    "('INC-2', 'on_scene', %(t)s - INTERVAL '25 minutes', 25), "
                    "('INC-3', 'resolved', %(t)s - INTERVAL '50 minutes', 50)", {"t": clock})
        cur.execute("INSERT INTO live.zone_conditions (zone_id, air_quality_index, aqi_alert) VALUES "
                    "('Z02', 130, TRUE), ('Z01', 40, FALSE)")
        cur.execute("INSERT INTO live.bus_routes (route_id, buses, headway_min) VALUES ('R1', 3, 6.5)")
    segments = int(query(warehouse, "SELECT COUNT(*) AS n FROM live.segments").n[0])

    with queries.reading(target) as cur:
        now, recent = queries.live_snapshot(cur, 15), queries.live_snapshot(cur, 5)
    assert now.clock == clock and now.last_write == applied and now.window_min == 15
    assert len(now.segments) == segments == len(SEGMENTS)
    levels = now.segments.set_index("segment_id").congestion
    assert levels.dropna().to_dict() == {"SEG-0001": "heavy", "SEG-0002": "moderate"}
    assert recent.segments.set_index("segment_id").congestion.dropna().to_dict() == {"SEG-0002": "free"}
    assert now.incidents.incident_id.tolist() == ["INC-1", "INC-2"] and now.resolved == 1  # newest first
    assert now.zones.set_index("zone_id").aqi_alert.to_dict() == {"Z01": False, "Z02": True}
    assert now.routes.route_id.tolist() == ["R1"]
    with pytest.raises(ValueError, match="windows"):
        queries.live_snapshot(None, 10)


def test_the_hourly_queries_equal_pandas_over_the_mart_rows(warehouse):
    fill_marts(warehouse)
    window = Window(DAY, 7, 8)

    with queries.reading(PostgresWarehouse(warehouse)) as cur:
        assert queries.mart_days(cur) == [DAY] and queries.mart_hours(cur, DAY) == (7, 9)
        congestion = queries.congestion_by_zone(cur, window)
        impact = queries.weather_impact(cur, window).set_index("condition")

    frame = pd.DataFrame(TRAFFIC)
    frame = frame[frame.event_hour.between(7, 8)]
    groups = frame.groupby(["zone_id", "road_class", "event_hour"])
    got = congestion.set_index(["zone_id", "road_class", "event_hour"])
    assert got.segments.astype(int).to_dict() == groups.size().to_dict()
    assert got.congested_segments.astype(int).to_dict() == groups.congestion_level.apply(
        lambda s: int(s.isin(["heavy", "severe"]).sum())).to_dict()
    pd.testing.assert_series_equal(got.speed_ratio.dropna().astype(float), expected_heatmap(TRAFFIC, 7, 8),
                                   check_names=False)

    w = pd.DataFrame(WEATHER)
    w = w[w.event_hour.between(7, 8)]
    for condition, rows in w.groupby("condition"):
        valid = rows[rows.mean_speed_ratio.notna() & (rows.gps_fixes > 0)]
        ratio = (valid.mean_speed_ratio * valid.gps_fixes).sum() / valid.gps_fixes.sum() if len(valid) else None
        zone_hours = rows.minutes.sum() / 60
        assert impact.zone_hours[condition] == pytest.approx(zone_hours)
        assert impact.incidents_per_zone_hour[condition] == pytest.approx(rows.incidents_reported.sum() / zone_hours)
        assert (pd.isna(impact.speed_ratio[condition]) if ratio is None
                else impact.speed_ratio[condition] == pytest.approx(ratio))
