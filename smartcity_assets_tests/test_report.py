"""The city report: rendered from mart hours written in the exact schemas of the mart tables, as files of the
marts' Iceberg tables as the mart assets write them; PNGs decoded and inspected, the HTML page checked for being self-contained
and for headline numbers recomputed here with pandas; the Dagster asset and the CLI on the same lake."""

from __future__ import annotations

import base64
import io
import re

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from matplotlib import image as mpimg

from smartcity import reference
from smartcity.contracts import INCIDENT_TYPES, WEATHER_CONDITIONS
from smartcity.catalog.tables import mart_table
from smartcity.lake import Lake
from smartcity.lake.iceberg import LakeTables
from smartcity.lake.layout import Hour
from smartcity.marts import (
    CONGESTION_LEVELS,
    ENVIRONMENT,
    INCIDENT_RESPONSE,
    PUBLIC_TRANSPORT,
    TRAFFIC_CONGESTION,
    WEATHER_IMPACT,
    Mart,
)
from smartcity.report import ReportError, build_report
from smartcity.report.build import CHARTS
from smartcity_assets.defs.report import city_report
from smartcity_assets.resources import LakeResource, TablesResource

from .helpers import smartcity, temporary_database

FIRST = pd.Timestamp("2026-11-28 06:00", tz="UTC")
HOURS = 30  # written; the report shows the last 24
MISSING = pd.Timestamp("2026-11-29 03:00", tz="UTC")  # the traffic mart has not computed this hour
QUIET = pd.Timestamp("2026-11-29 04:00", tz="UTC")  # an hour without incidents: a file without rows


def write_partition(tables: LakeTables, mart: Mart, hour: pd.Timestamp, rows: list[dict],
                    pending: dict | None = None) -> None:
    """One hour of a mart as its asset writes it — a file of the mart's Iceberg table, in the mart's column types
    (an hour without rows too) — committed now, or added to `pending` to commit with others (`commit`)."""
    schema = pa.schema([c.arrow_field() for c in mart.columns])
    data = pa.Table.from_pylist([{"event_date": hour.date(), "event_hour": hour.hour, **r} for r in rows], schema)
    path = tables.write_hour(mart_table(mart), Hour.of(hour), data)
    commit(tables, {mart: {Hour.of(hour): [path]}}) if pending is None else \
        pending.setdefault(mart, {}).setdefault(Hour.of(hour), []).append(path)


def commit(tables: LakeTables, pending: dict) -> None:
    for mart, files in pending.items():
        tables.replace_hours(mart_table(mart), files)


def level(ratio: float) -> str:
    return next(name for threshold, name in CONGESTION_LEVELS if ratio >= threshold)


def write_marts(tables: LakeTables, seed: int = 7) -> dict[str, pd.DataFrame]:
    """HOURS hours of all five marts with a daily rhythm (slow and polluted at rush hours); returns them."""
    rng = np.random.default_rng(seed)
    segments = reference.segments().to_pylist()
    zones = reference.zones().to_pylist()
    written = {t.name: [] for t in (TRAFFIC_CONGESTION, ENVIRONMENT, WEATHER_IMPACT, INCIDENT_RESPONSE,
                                    PUBLIC_TRANSPORT)}
    incident, pending = 0, {}
    for hour in pd.date_range(FIRST, periods=HOURS, freq="h"):
        rush = np.exp(-((hour.hour - 8) ** 2) / 4) + np.exp(-((hour.hour - 17) ** 2) / 4)
        rows = []
        for s in segments:
            if rng.random() < 0.05:
                continue
            ratio = float(np.clip(0.9 - 0.45 * rush * {"ring": 0.6, "arterial": 1.0, "residential": 0.5}[
                s["road_class"]] - (0.25 if s["zone_id"] == "Z05" else 0) + rng.normal(0, 0.06), 0.1, 1.2))
            fixes = int(rng.integers(20, 300))
            rows.append({"segment_id": s["segment_id"], "zone_id": s["zone_id"], "road_class": s["road_class"],
                         "speed_limit_kmh": s["speed_limit_kmh"], "gps_fixes": fixes, "vehicles": fixes // 5,
                         "mean_speed_kmh": round(ratio * s["speed_limit_kmh"], 2),
                         "p85_speed_kmh": round(ratio * s["speed_limit_kmh"] * 1.2, 2), "speed_ratio": round(ratio, 3),
                         "congestion_level": level(round(ratio, 3)), "camera_vehicles": None})
        if hour != MISSING:
            write_partition(tables, TRAFFIC_CONGESTION, hour, rows, pending)
            written["traffic_congestion"] += [{**r, "hour": hour} for r in rows]
        rows, impact = [], []
        for i, z in enumerate(zones):
            aqi = 55 + 45 * rush + 6 * i + rng.normal(0, 4)
            over = int(np.clip((aqi + 15 - 100) * 3, 0, 60))
            condition = str(rng.choice(WEATHER_CONDITIONS, p=[0.45, 0.25, 0.05, 0.15, 0.05, 0.05]))
            rows.append({"zone_id": z["zone_id"], "zone_name": z["zone_name"], "readings": 60,
                         "mean_temperature_c": 8.5, "mean_humidity_pct": 70.0, "precipitation_mm": 0.0,
                         "max_wind_speed_ms": 4.0, "mean_aqi": round(aqi, 2), "max_aqi": int(aqi + 15),
                         "minutes_over_aqi_alert": over, "dominant_condition": condition})
            impact.append({"zone_id": z["zone_id"], "condition": condition, "minutes": 60,
                           "gps_fixes": int(rng.integers(1000, 5000)),
                           "mean_speed_kmh": 30.0, "mean_speed_ratio": round(0.85 - (0.2 if "rain" in condition
                                                                                         else 0) - 0.2 * rush, 3),
                           "incidents_reported": int(rng.poisson(0.3)), "collisions_reported": 0})
        for table, data in ((ENVIRONMENT, rows), (WEATHER_IMPACT, impact)):
            write_partition(tables, table, hour, data, pending)
            written[table.name] += [{**r, "hour": hour} for r in data]
        rows = []
        for _ in range(0 if hour == QUIET else int(rng.poisson(4))):
            incident += 1
            s = segments[int(rng.integers(len(segments)))]
            kind = str(rng.choice(INCIDENT_TYPES))
            on_road = kind in ("collision", "breakdown", "hazard")
            reported = hour + pd.Timedelta(minutes=float(rng.uniform(0, 59)))
            to_scene = float(rng.uniform(3, 12))
            rows.append({"incident_id": f"INC-{incident:06d}", "incident_type": kind,
                         "severity": int(rng.integers(1, 6)), "zone_id": s["zone_id"], "zone_name": "",
                         "segment_id": s["segment_id"] if on_road else None,
                         "road_class": s["road_class"] if on_road else None, "vehicles_involved": 1,
                         "unit_id": "VEH-00001", "status": "resolved", "reported_at": reported,
                         "dispatched_at": reported + pd.Timedelta(minutes=1),
                         "on_scene_at": reported + pd.Timedelta(minutes=to_scene),
                         "resolved_at": reported + pd.Timedelta(minutes=to_scene + 20), "minutes_to_dispatch": 1.0,
                         "minutes_to_scene": round(to_scene, 2), "minutes_on_scene": 20.0,
                         "minutes_to_resolve": round(to_scene + 20, 2), "weather_condition": "clear",
                         "precipitation_mm_h": 0.0, "temperature_c": 8.5})
        write_partition(tables, INCIDENT_RESPONSE, hour, rows, pending)
        written["incident_response"] += [{**r, "hour": hour} for r in rows]
        rows = []
        for r, route in enumerate(("R1", "R2", "R3", "R4")):
            headways = int(rng.integers(100, 180))
            cv = round(float(0.3 + 0.5 * rush + 0.1 * r + rng.uniform(0, 0.1)), 3)
            rows.append({"route_id": route, "buses": 24, "reports": 1000, "mean_speed_kmh": 28.0,
                         "mean_passengers": 20.0, "max_passengers": 55, "stop_arrivals": headways + 20,
                         "headways": headways, "mean_headway_min": round(1.0 + 0.4 * rush + rng.uniform(0, 0.2), 2),
                         "headway_cv": cv, "max_headway_min": 4.0, "service_gaps": int(rng.poisson(20 * cv))})
        write_partition(tables, PUBLIC_TRANSPORT, hour, rows, pending)
        written["public_transport"] += [{**r, "hour": hour} for r in rows]
    commit(tables, pending)
    return {name: pd.DataFrame(rows) for name, rows in written.items()}


def lakehouse_of(folder, dsn: str) -> tuple[Lake, LakeTables, dict]:
    """A lake folder with its Iceberg catalog in the database `dsn`; the environment the CLI needs for it."""
    lake = Lake("file://" + str(folder))
    return lake, LakeTables.open(lake, "sql", uri=dsn), {"SMARTCITY_LAKE_URI": lake.uri, "SMARTCITY_WAREHOUSE_URL": dsn}


def resources(lake: Lake, dsn: str) -> dict:
    return {"tables": TablesResource(lake=LakeResource(uri=lake.uri), kind="sql", catalog_url=dsn)}


@pytest.fixture(scope="module")
def city(tmp_path_factory, live_stack):
    """A lake with HOURS hours of marts, and those marts as frames."""
    with temporary_database(live_stack.warehouse_dsn) as dsn:
        lake, tables, env = lakehouse_of(tmp_path_factory.mktemp("lake"), dsn)
        yield lake, tables, env, write_marts(tables)


def last_24(frame: pd.DataFrame) -> pd.DataFrame:
    end = FIRST + pd.Timedelta(hours=HOURS - 1)
    return frame[frame.hour > end - pd.Timedelta(hours=24)]


def decode(png: bytes) -> np.ndarray:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return mpimg.imread(io.BytesIO(png), format="png")


def test_report_renders_readable_charts_and_a_self_contained_page(city, tmp_path):
    lake, tables, _, marts = city
    report = build_report(tables, hours=24)
    assert report.data.end == FIRST + pd.Timedelta(hours=HOURS - 1) and len(report.data.hours) == 24
    assert report.html_uri == lake.uri_of(lake.path("report", "2026-11-29T11Z-24h", "index.html"))
    assert report.latest_uri == lake.uri_of(lake.path("report", "latest", "index.html"))
    # the window: only the last 24 hours, and the traffic mart's missing hour is known to be missing
    assert MISSING not in report.data.marts["traffic_congestion"].hours
    assert QUIET in report.data.marts["incident_response"].hours
    assert len(report.data.frame("incident_response")) == len(last_24(marts["incident_response"]))

    assert [c.name for c in report.charts] == [f.__name__ for f in CHARTS]
    for chart in report.charts:
        on_disk = lake.read_bytes(report.png_uris[chart.name].removeprefix("file://"))
        assert on_disk == chart.png
        pixels = decode(on_disk)
        height, width = pixels.shape[:2]
        assert width >= 800 and height >= 300, (chart.name, pixels.shape)
        colours = np.unique(pixels.reshape(-1, pixels.shape[2]), axis=0)
        assert len(colours) > 50, (chart.name, len(colours))  # a drawn chart, not a blank or one-colour image

    page = lake.read_bytes(report.html_uri.removeprefix("file://")).decode()
    assert page == lake.read_bytes(report.latest_uri.removeprefix("file://")).decode()
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    assert not re.search(r"(?i)https?:|<link|<script|href=|url\(", text)  # nothing to fetch: opens from disk
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == len(CHARTS)
    assert [base64.b64decode(s.removeprefix("data:image/png;base64,")) for s in sources] == [
        c.png for c in report.charts]

    # headline numbers, recomputed here from the marts as written
    traffic, env = last_24(marts["traffic_congestion"]), last_24(marts["environment"])
    incidents, buses = last_24(marts["incident_response"]), last_24(marts["public_transport"])
    share = traffic.congestion_level.isin(["heavy", "severe"]).mean() * 100
    assert f"{len(traffic):,} segment-hours observed; {share:.1f} % of them heavy or severe" in page
    assert f"Incidents reported in the window: {len(incidents):,} (" in page
    assert f"{int((incidents.severity >= 4).sum())} of severity 4-5" in page
    assert f"mean time to scene {incidents.minutes_to_scene.mean():.1f} min" in page
    peak = env.loc[env.mean_aqi.idxmax()]
    assert f"Highest hourly mean AQI: {peak.mean_aqi:.1f} in {peak.zone_name} at {peak.hour:%d %b %H:%M} UTC" in page
    assert f"above the alert threshold of 100: {env.minutes_over_aqi_alert.sum():,} in total" in page
    assert f"{buses.service_gaps.sum():,} service gaps" in page
    cv = (buses.headway_cv * buses.headways).groupby(buses.route_id).sum() / buses.groupby("route_id").headways.sum()
    assert f"Least regular: route {cv.idxmax()}" in page and f"CV {cv.max():.2f}" in page
    latest = traffic[traffic.hour == traffic.hour.max()]
    assert (f"Heavily or severely congested at {latest.hour.iloc[0]:%d %b %H:%M} UTC: "
            f"{latest.congestion_level.isin(['heavy', 'severe']).sum()} of {len(latest)} observed road segments") in page

    # --out: the same report in a local folder of one's choosing
    local = build_report(tables, hours=6, out=str(tmp_path / "mine"))
    assert local.html_uri == f"file://{tmp_path}/mine/index.html" and local.latest_uri is None
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == sorted(
        ["index.html", *(f"{f.__name__}.png" for f in CHARTS)])


def test_asset_materializes_with_the_charts_inline(city):
    lake, _, env, marts = city
    result = dg.materialize([city_report], resources=resources(lake, env["SMARTCITY_WAREHOUSE_URL"]),
                            run_config={"ops": {"report__city_report": {"config": {"hours": 12}}}})
    assert result.success
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    preview = metadata["report"].value
    images = re.findall(r"!\[[^\]]+\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", preview)
    assert len(images) == len(CHARTS)
    for image in images:
        assert decode(base64.b64decode(image)).shape[1] >= 800
    assert metadata["dagster/uri"].value == lake.uri_of(lake.path("report", "2026-11-29T11Z-12h", "index.html"))
    assert metadata["window_hours"].value == 12
    env = marts["environment"][marts["environment"].hour > FIRST + pd.Timedelta(hours=HOURS - 13)]
    assert metadata["minutes_over_aqi_alert"].value == env.minutes_over_aqi_alert.sum()


def test_empty_lake_is_a_clear_message(tmp_path, warehouse):
    lake, tables, env = lakehouse_of(tmp_path / "lake", warehouse)
    with pytest.raises(ReportError, match="no mart has an hour in the lake"):
        build_report(tables)
    result = dg.materialize([city_report], resources=resources(lake, warehouse), raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "no mart has an hour in the lake" in failure.step_failure_data.error.message
    cli = smartcity("report", env={"SMARTCITY_HOME": str(tmp_path), **env})
    assert cli.returncode == 2 and "no mart has an hour in the lake" in cli.stderr
    assert "Traceback" not in cli.stderr


def test_cli_prints_where_the_report_is(city, tmp_path):
    *_, env, _ = city
    cli = smartcity("report", "--hours", "3", "--out", str(tmp_path / "out"), env={"SMARTCITY_HOME": str(tmp_path), **env})
    assert cli.returncode == 0, cli.stderr
    assert f"file://{tmp_path}/out/index.html" in cli.stdout
    assert (tmp_path / "out" / "index.html").read_text().count("data:image/png;base64,") == len(CHARTS)


def test_a_mart_without_rows_gets_a_chart_that_says_so(tmp_path, warehouse):
    _, tables, _ = lakehouse_of(tmp_path / "lake", warehouse)
    hour = pd.Timestamp("2026-11-29 10:00", tz="UTC")
    zone = reference.zones().to_pylist()[0]
    write_partition(tables, ENVIRONMENT, hour, [{
        "zone_id": zone["zone_id"], "zone_name": zone["zone_name"], "readings": 60, "mean_temperature_c": 9.0,
        "mean_humidity_pct": 60.0, "precipitation_mm": 0.0, "max_wind_speed_ms": 2.0, "mean_aqi": 123.45,
        "max_aqi": 131, "minutes_over_aqi_alert": 42, "dominant_condition": "clear"}])
    write_partition(tables, INCIDENT_RESPONSE, hour, [])  # computed, nothing happened
    report = build_report(tables, hours=24)
    assert report.data.start == report.data.end == hour  # the window starts at the first hour with a mart
    captions = {c.name: c.caption for c in report.charts}
    assert captions["air_quality"].startswith("Highest hourly mean AQI: 123.5 in " + zone["zone_name"])
    assert "42 in total" in captions["air_quality"]
    for name in ("congestion_heatmap", "city_map", "bus_regularity", "weather_impact"):
        assert captions[name].startswith("No "), captions[name]
        assert decode(next(c.png for c in report.charts if c.name == name)).shape[1] >= 600
