"""The main job (`smartcity demo`): the platform end to end on the embedded stack, with a summary.

Today it covers: stack up -> simulated city into Kafka (what arrived per topic, read back from the
broker and checked against the contracts) -> Spark Structured Streaming into the lake's raw zone (rows
per source and hour, quarantined messages by reason) -> the Dagster manifest sensor and the runs it
requests (transformed tables with their checks, catalog entries) -> a sample query. Marts come next.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from smartcity import contracts, stack
from smartcity.console import table
from smartcity.kafka import read_topic
from smartcity.lake import Lake, manifests
from smartcity.lake.summary import summarize
from smartcity.settings import Settings
from smartcity.simulator.run import SimulationConfig, format_report, run_simulation
from smartcity.spark.session import require_java

log = logging.getLogger(__name__)


def run_demo(settings: Settings, events: int, keep_stack: bool) -> int:
    print(f"[1/5] checking prerequisites: {require_java()}")
    already = stack.running_services(settings)
    print("[2/5] starting the embedded stack")
    for line in stack.up(settings):
        print("      " + line)
    started_here = stack.running_services(settings) - already
    if "broker" in started_here and (retired := stack.retire_checkpoint(settings)):
        print(f"      the broker started empty: previous streaming checkpoint moved to {retired}")
    try:
        return _run(settings, events)
    finally:
        if started_here and not keep_stack:
            print("stopping what this run started:")
            for line in stack.down(settings):
                print("      " + line)


def _run(settings: Settings, events: int) -> int:
    start = (datetime.now(timezone.utc) - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    config = SimulationConfig(events=events, speed=0.0, start=start, late_share=0.02, malformed_share=0.01)
    print(f"[3/5] simulating {events:,} events of a city of {config.vehicles:,} vehicles "
          f"(2% late, 1% malformed) into Kafka at {settings.bootstrap_servers}")
    report = run_simulation(settings, config)
    print(format_report(report))

    print("\nread back from the broker and checked against the event contracts:")
    rows, ok = [], report.failed == 0
    for contract in contracts.CONTRACTS:
        began = time.monotonic()
        arrived, reasons = 0, Counter()
        for msg in read_topic(settings, contract.topic, idle_timeout_s=1.0):
            arrived += 1
            _, reason = contract.parse(msg.value())
            if reason:
                reasons[reason.split(":")[0]] += 1
        sent = report.topics[contract.topic].sent
        ok &= arrived >= sent
        rows.append([contract.topic, sent, arrived, arrived - sum(reasons.values()), sum(reasons.values()),
                     ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) or "-",
                     f"{time.monotonic() - began:.1f}s"])
    print(table(["topic", "sent", "in broker", "valid", "malformed", "malformed by reason", "read"], rows))
    print("\nall sent events arrived" if ok else "\nSOME EVENTS DID NOT ARRIVE (see above)")

    print("\n[4/5] streaming Kafka into the lake's raw zone (Spark Structured Streaming, available-now)")
    from streaming.job import StreamRun, run_stream

    lake = Lake.from_settings(settings)
    cursor = manifests.head(lake)
    began = time.monotonic()
    run_stream(settings, StreamRun(available_now=True, progress=True))
    landing = summarize(lake, cursor)
    accounted = landing.landed + landing.quarantined_total
    print(f"streamed in {time.monotonic() - began:.1f} s; landed + quarantined = {accounted:,} "
          f"of {report.sent:,} sent")
    ok &= accounted == report.sent

    print("\n[5/5] Dagster: the manifest sensor ticks, then the runs it requests materialize the transformed "
          "tables with their checks")
    ok &= _dagster(settings, cursor)
    from smartcity.report import build_report

    city = build_report(lake, hours=24)
    print(f"\ncity report (charts of the marts): {city.html_uri}")
    print(f"\nlake: {settings.lake}\nnext: open the report above in a browser; `smartcity up` runs the live "
          f"platform (stream, simulator, Dagster UI on http://127.0.0.1:3000 with the sensor running); "
          f"`smartcity query \"SELECT * FROM marts_incident_response\"` for ad-hoc SQL")
    return 0 if ok else 1


# The headline of each mart, read back from the warehouse's BI views: (title, SQL, column headers).
MART_HEADLINES = [
    ("bi.traffic_congestion: road segment-hours by congestion level",
     "SELECT congestion_level, count(*), round(avg(speed_ratio)::numeric, 2) FROM bi.traffic_congestion "
     "GROUP BY 1 ORDER BY 3 DESC", ["congestion level", "segment-hours", "mean speed / limit"]),
    ("bi.congestion_episodes: runs of heavily congested hours",
     "SELECT count(*), coalesce(max(hours), 0), count(DISTINCT segment_id) FROM bi.congestion_episodes",
     ["episodes", "longest (hours)", "segments"]),
    ("bi.environment: air quality and weather per zone",
     "SELECT zone_name, round(avg(mean_aqi)::numeric, 1), max(max_aqi), sum(minutes_over_aqi_alert), "
     "round(avg(mean_temperature_c)::numeric, 1) FROM bi.environment GROUP BY 1 ORDER BY 2 DESC",
     ["zone", "mean AQI", "max AQI", "minutes AQI > 100", "mean °C"]),
    ("bi.weather_impact: traffic by weather condition",
     "SELECT condition, sum(minutes), round((sum(mean_speed_ratio * gps_fixes) / nullif(sum(gps_fixes), 0))"
     "::numeric, 3), sum(incidents_reported) FROM bi.weather_impact GROUP BY 1 ORDER BY 2 DESC",
     ["condition", "zone-minutes", "mean speed / limit", "incidents reported"]),
    ("bi.incident_response: incidents by kind",
     "SELECT incident_type, count(*), sum(CASE WHEN resolved_at IS NOT NULL THEN 1 ELSE 0 END), "
     "round(avg(minutes_to_scene)::numeric, 1) FROM bi.incident_response GROUP BY 1 ORDER BY 2 DESC",
     ["kind", "incidents", "resolved", "mean minutes to scene"]),
    ("bi.public_transport: bus routes",
     "SELECT route_id, max(buses), round(avg(mean_speed_kmh)::numeric, 1), round(avg(mean_headway_min)::numeric, 2), "
     "round(avg(headway_cv)::numeric, 2), sum(service_gaps) FROM bi.public_transport GROUP BY 1 ORDER BY 1",
     ["route", "buses", "km/h", "mean headway (min)", "headway cv", "service gaps"]),
]


def _plain(value):
    """PostgreSQL numerics (Decimal) as int when whole, else float, for printing."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _print_marts(settings: Settings) -> None:
    """The headline numbers of every mart, from the warehouse's BI views."""
    from smartcity.warehouse.postgres import PostgresWarehouse

    conn = PostgresWarehouse(settings.warehouse_dsn).connect()
    try:
        with conn.cursor() as cur:
            for title, sql, headers in MART_HEADLINES:
                cur.execute(sql)
                rows = [[_plain(v) for v in r] for r in cur.fetchall()]
                print(f"      warehouse {title}")
                print(table(headers, rows or [["(no rows)"] + [""] * (len(headers) - 1)]))
    finally:
        conn.close()


def _dagster(settings: Settings, cursor: manifests.Cursor) -> bool:
    """One sensor tick over what this run landed, and the runs it requests, in this process."""
    import dagster as dg

    from smartcity_assets.definitions import definitions_for, execute_in_process
    from smartcity_assets.defs.sensors import raw_manifest_sensor
    from smartcity_assets.resources import LakeResource

    defs = definitions_for(settings)

    context = dg.build_sensor_context(cursor=cursor.dumps(), resources={"lake": LakeResource(uri=settings.lake)})
    tick = raw_manifest_sensor(context)
    if not isinstance(tick, dg.SensorResult):
        print("      the sensor found nothing to do")
        return False
    print(f"      sensor: {len(tick.asset_events)} raw partitions landed, {len(tick.run_requests)} runs requested")
    rows, ok, registered = [], True, 0
    with dg.DagsterInstance.ephemeral() as instance:
        for request in tick.run_requests:
            began = time.monotonic()
            result = execute_in_process(defs, request, instance=instance, raise_on_error=False,
                                        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
            ok &= result.success
            checks = result.get_asset_check_evaluations()
            events = result.get_asset_materialization_events()
            registered += sum(1 for e in events if e.asset_key.path[0] == "catalog")
            for event in (e for e in events if e.asset_key.path[0] == "transformed"):
                mine = [c for c in checks if c.asset_key == event.asset_key]
                failed = [c.check_name for c in mine if not c.passed]
                rows.append([event.asset_key.to_user_string(), request.partition_key,
                             event.materialization.metadata["dagster/row_count"].value,
                             event.materialization.metadata["duplicates_removed"].value,
                             f"{len(mine) - len(failed)}/{len(mine)}", ", ".join(failed) or "-"])
            print(f"      run for {request.partition_key}: {'ok' if result.success else 'FAILED'} "
                  f"in {time.monotonic() - began:.1f} s")
    print(table(["asset", "partition", "rows", "duplicates removed", "checks passed", "failed checks"], rows))
    print(f"      catalog: {registered} table partitions registered ({'Glue' if settings.env == 'aws' else 'DuckDB'})")
    _print_marts(settings)
    sql = ("SELECT zone_name, count(*) AS fixes, round(avg(speed_kmh), 1) AS mean_kmh, "
           "count(DISTINCT vehicle_id) AS vehicles FROM transformed_gps_matched GROUP BY 1 ORDER BY 2 DESC")
    from smartcity.catalog.query import run_query

    print(f"      smartcity query \"{sql}\"")
    columns, result_rows = run_query(settings, sql)
    print(table(columns, result_rows))
    return ok
