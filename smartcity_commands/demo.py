"""The main job (`smartcity demo`): the platform end to end on the embedded stack, with a summary.

Stack up -> several hours of a simulated city's day (yesterday from 06:00 UTC: the morning rush, rain fronts
passing, incidents through their lifecycle) into Kafka, read back from the broker and checked against the
contracts -> Spark Structured Streaming into the lake's raw zone -> the Dagster manifest sensor and the runs it
requests, as the daemon would run them (each hour, then the marts of hours the later ones changed) -> one line
per mart a city manager reads, from the warehouse's BI views -> the city report and a sample query.
To fit hours of city time in a few minutes, cars and trucks report every 90 s and buses and emergency units
every 15 s (the full rate is every 5 s); the physics still runs every simulated second.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

from smartcity import contracts
from smartcity_commands import stack
from smartcity.console import table
from smartcity.errors import SmartcityError
from smartcity.kafka import read_topic
from smartcity.lake import Lake, manifests
from smartcity.lake.summary import summarize
from smartcity.settings import Settings
from smartcity.simulator.run import SimulationConfig, format_report, run_simulation
from smartcity.spark.session import require_java
from smartcity.warehouse.headlines import Window, headlines

DAY_STARTS_AT = 6  # UTC hour the simulated day starts
DAY_SEED = 2  # the city's day for this seed: the rush hour with a rain front at 07:00, another at 10:00
CAR_GPS_EVERY_S, FLEET_GPS_EVERY_S = 90, 15

log = logging.getLogger(__name__)


def run_demo(settings: Settings, hours: int, vehicles: int, keep_stack: bool) -> int:
    print(f"[1/5] checking prerequisites: {require_java()}")
    already = stack.running_services(settings)
    print("[2/5] starting the embedded stack")
    for line in stack.up(settings):
        print("      " + line)
    started_here = stack.running_services(settings) - already
    if "broker" in started_here and (retired := stack.retire_checkpoint(settings)):
        print(f"      the broker started empty: previous streaming checkpoint moved to {retired}")
    try:
        return _run(settings, hours, vehicles)
    finally:
        if started_here and not keep_stack:
            print("stopping what this run started:")
            for line in stack.down(settings):
                print("      " + line)


def demo_window(hours: int, now: datetime | None = None) -> Window:
    """Yesterday (UTC) from DAY_STARTS_AT, `hours` hours."""
    day = ((now or datetime.now(timezone.utc)) - timedelta(days=1)).date()
    return Window(day, DAY_STARTS_AT, DAY_STARTS_AT + hours - 1)


def _run(settings: Settings, hours: int, vehicles: int) -> int:
    window = demo_window(hours)
    start = datetime(window.day.year, window.day.month, window.day.day, DAY_STARTS_AT, tzinfo=timezone.utc)
    config = SimulationConfig(city_seconds=hours * 3600, speed=0.0, start=start, seed=DAY_SEED, vehicles=vehicles,
                              car_gps_every_s=CAR_GPS_EVERY_S, fleet_gps_every_s=FLEET_GPS_EVERY_S,
                              late_share=0.02, malformed_share=0.01)
    print(f"[3/5] simulating {hours} hours of a city of {vehicles:,} vehicles, {start:%Y-%m-%d %H:%M} to "
          f"{start + timedelta(hours=hours):%H:%M} UTC (2% of events late, 1% malformed), into Kafka at "
          f"{settings.bootstrap_servers}")
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
    lake = Lake.from_settings(settings)
    cursor = manifests.head(lake)
    began = time.monotonic()
    # In a process of its own, as on the platform: this one is a Spark Connect client for the Dagster runs (a
    # Python process is either that or runs Spark itself).
    streamed = subprocess.run([sys.executable, "-m", "smartcity_commands.cli", "stream", "--available-now"])
    if streamed.returncode != 0:
        raise SmartcityError(f"the streaming job failed (exit code {streamed.returncode}); see its output above")
    landing = summarize(lake, cursor)
    accounted = landing.landed + landing.quarantined_total
    print(f"streamed in {time.monotonic() - began:.1f} s; landed + quarantined = {accounted:,} "
          f"of {report.sent:,} sent")
    ok &= accounted == report.sent

    print("\n[5/5] Dagster: the manifest sensor ticks, then the runs it requests materialize the transformed "
          "tables with their checks")
    ok &= _dagster(settings, cursor)
    print(f"\nthe city on {window.day:%A %d %B %Y}, {window.first:02d}:00-{window.last + 1:02d}:00 UTC "
          f"(from the warehouse's BI views):")
    for line in _headlines(settings, window):
        print("  " + line)
    print("\nthe live layer, what the stream's micro-batches left in the warehouse's live.* tables:")
    print("  " + _live_headline(settings))
    from smartcity.lake.iceberg import LakeTables
    from smartcity.report import build_report

    city = build_report(LakeTables.from_settings(settings), hours=24)
    print(f"\ncity report (charts of the marts): {city.html_uri}")
    print(f"\nlake: {settings.lake}\nnext: open the report above in a browser; `smartcity up` runs the live "
          f"platform (stream, simulator, Dagster UI on http://127.0.0.1:3000 with the sensor running); "
          f"`smartcity query \"SELECT * FROM marts_incident_response\"` for ad-hoc SQL")
    return 0 if ok else 1


def _headlines(settings: Settings, window: Window) -> list[str]:
    from smartcity.warehouse.postgres import PostgresWarehouse

    conn = PostgresWarehouse(settings.warehouse_dsn).connect()
    try:
        return headlines(conn, window)
    finally:
        conn.close()


def _live_headline(settings: Settings) -> str:
    from smartcity.warehouse import kind_of, open_warehouse
    from smartcity.warehouse.live import LiveLayer

    if not settings.live_layer:
        return "Live: off (SMARTCITY_LIVE_LAYER=false)"
    warehouse = open_warehouse(kind_of(settings.env), settings.warehouse_dsn, settings.redshift_iam_role)
    return LiveLayer(warehouse).headline()


def _run_label(request) -> str:
    """The hour a requested run covers, or its range of hours."""
    from smartcity_assets.defs.sensors import RANGE_END, RANGE_START

    if request.partition_key:
        return request.partition_key
    return f"{request.tags[RANGE_START]}..{request.tags[RANGE_END]}"


def _dagster(settings: Settings, cursor: manifests.Cursor) -> bool:
    """One sensor tick over what this run landed, and the runs it requests in order (as the run queue would
    start them), in this process."""
    import dagster as dg

    from smartcity_assets.definitions import definitions_for, execute_in_process
    from smartcity_assets.defs.sensors import raw_manifest_sensor
    defs = definitions_for(settings)

    with dg.build_sensor_context(cursor=cursor.dumps(),
                                 resources={k: defs.resources[k] for k in ("lake", "tables")}) as context:
        tick = raw_manifest_sensor(context)
    if not isinstance(tick, dg.SensorResult):
        print("      the sensor found nothing to do")
        return False
    print(f"      sensor: {len(tick.asset_events)} raw partitions landed, {len(tick.run_requests)} runs requested "
          "(one per hour, or one over a backlog of hours; then one per mart for the hours that later hours' data "
          "changed)")
    ok, registered = True, 0
    per_table: dict[str, list] = {}  # asset -> [hours, rows, duplicates removed, checks, failed check names]
    with dg.DagsterInstance.ephemeral() as instance:
        for request in tick.run_requests:
            began = time.monotonic()
            result = execute_in_process(defs, request, instance=instance, raise_on_error=False,
                                        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
            ok &= result.success
            checks = result.get_asset_check_evaluations()
            events = result.get_asset_materialization_events()
            registered += sum(1 for e in events if e.asset_key.path[0] == "catalog")
            counted = set()  # a range run reports one materialization per hour, each with the run's totals
            for event in (e for e in events if e.asset_key.path[0] == "transformed"):
                seen = per_table.setdefault(event.asset_key.to_user_string(), [0, 0, 0, 0, 0, Counter()])
                seen[0] += 1
                if event.asset_key in counted:
                    continue
                counted.add(event.asset_key)
                mine = [c for c in checks if c.asset_key == event.asset_key]
                seen[1] += event.materialization.metadata["dagster/row_count"].value
                seen[2] += event.materialization.metadata["duplicates_removed"].value
                seen[3] += sum(c.passed for c in mine)
                seen[4] += len(mine)
                seen[5].update(c.check_name for c in mine if not c.passed)
            marts = sorted({e.asset_key.path[-1] for e in events if e.asset_key.path[0] == "marts"})
            print(f"      run for {_run_label(request)}: {'ok' if result.success else 'FAILED'} in "
                  f"{time.monotonic() - began:.1f} s, {len(events)} materializations"
                  + (f" (marts: {', '.join(marts)})" if marts and not request.partition_key else ""))
    rows = [[asset, hours, n, dups, f"{passed}/{total}", ", ".join(f"{k} x{v}" for k, v in failed.items()) or "-"]
            for asset, (hours, n, dups, passed, total, failed) in sorted(per_table.items())]
    print(table(["asset", "hours", "rows", "duplicates removed", "checks passed", "failed checks"], rows))
    print(f"      catalog: {registered} table partitions registered ({'Glue' if settings.env == 'aws' else 'DuckDB'})")
    sql = ("SELECT zone_name, count(*) AS fixes, round(avg(speed_kmh), 1) AS mean_kmh, "
           "count(DISTINCT vehicle_id) AS vehicles FROM transformed_gps_matched GROUP BY 1 ORDER BY 2 DESC")
    from smartcity.catalog.query import run_query

    print(f"      smartcity query \"{sql}\"")
    columns, result_rows = run_query(settings, sql)
    print(table(columns, result_rows))
    return ok
