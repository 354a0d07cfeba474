"""Faults survived with nothing lost and nothing duplicated: real broker, real Spark, real PostgreSQL, moto
behind a fault-injecting proxy. The fault matrix (what is injected, how, what must happen) is docs/faults.md."""

from __future__ import annotations

import logging
import math
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import dagster as dg
import psycopg2
import pyarrow as pa
import pytest
from confluent_kafka import KafkaException
from pydantic import SecretStr

from smartcity import contracts
from smartcity_commands import stack
from smartcity.errors import AccessDenied, BrokerUnavailable, SmartcityError
from smartcity.kafka import read_topic
from smartcity.lake import Lake, layout, manifests
from smartcity.lake.layout import Hour
from smartcity.lake.reader import LakeReader
from smartcity.lake.retry import LakeUnavailable
from smartcity.catalog.tables import mart_table, transformed_table
from smartcity.lake.iceberg import LakeTables
from smartcity.marts import BY_NAME as MARTS
from smartcity.marts import ENVIRONMENT
from smartcity.tables import BY_NAME as TABLES
from smartcity.simulator.run import SimulationConfig, run_simulation
from smartcity.warehouse.base import PartitionData, WarehouseUnavailable
from smartcity.warehouse.postgres import PostgresWarehouse
from smartcity_assets.defs.sensors import RANGE_END, RANGE_START
from smartcity_assets.keys import mart_key, transformed_catalog_key, transformed_key

from .fault_proxy import FaultProxy, Rule
from .helpers import (
    HOUR_10,
    HOUR_11,
    ROOT,
    START,
    assert_exactly_once,
    camera_row,
    commit_raw,
    drain,
    embedded_settings,
    expected_messages,
    kill_group,
    land,
    materialize,
    moto_server,
    produce,
    query,
    run_requested,
    sensor_tick,
    stream_process,
    wait_for_new_manifest,
    wait_until,
    weather_row,
)

ENVIRONMENT_KEY = mart_key(ENVIRONMENT.name)


class SteadyProducer(threading.Thread):
    """Simulated events at a steady rate, chunk after chunk (a new seed each), until `finish()`; so the
    stream always has new data however long a fault takes on a loaded machine. Remembers what it sent."""

    def __init__(self, settings, rate: int, chunk: int = 3_000, **extra):
        super().__init__(daemon=True)
        self.settings, self.rate, self.chunk, self.extra = settings, rate, chunk, extra
        self.configs: list[SimulationConfig] = []
        self.failed = 0
        self._stop_after_chunk = threading.Event()

    def run(self) -> None:
        while not self._stop_after_chunk.is_set():
            config = SimulationConfig(events=self.chunk, seed=100 + len(self.configs), start=START, rate=self.rate,
                                      progress=False, **self.extra)
            try:
                self.failed += run_simulation(self.settings, config).failed
            except (BrokerUnavailable, KafkaException):  # raised before anything is produced: try again
                time.sleep(1)
                continue
            self.configs.append(config)

    def finish(self) -> list:
        """Stop after the current chunk; every message sent, as `expected_messages` gives them."""
        self._stop_after_chunk.set()
        self.join()
        assert self.failed == 0
        return [m for config in self.configs for m in expected_messages(config)]


# -- the streaming job killed with -9 at random points under load ---------------------------------------

def _uncommitted_batches(lake: Lake) -> set[tuple[str, int]]:
    """(stream, batch) of data files in the (local) lake that no manifest commits yet."""
    found = set()
    for zone in (layout.RAW, layout.QUARANTINE):
        for _, _, names in os.walk(lake.path(zone)):
            for name in names:
                ids = layout.parse_data_file_name(name)
                if ids is not None and not os.path.exists(lake.path(layout.manifest_path(*ids))):
                    found.add(ids)
    return found


def _orphan_files(lake: Lake) -> list[str]:
    """Data files in the (local) lake that no manifest names: written by batches killed before their commit."""
    committed = {f.path for m in manifests.list_after(lake, manifests.Cursor())[0] for f in m.files}
    return [lake.relative(os.path.join(folder, name)) for zone in (layout.RAW, layout.QUARANTINE)
            for folder, _, names in os.walk(lake.path(zone)) for name in names
            if layout.parse_data_file_name(name) and lake.relative(os.path.join(folder, name)) not in committed]


def _kill_between_write_and_commit(lake: Lake, proc: subprocess.Popen, timeout: float = 60) -> bool:
    """Wait until executors wrote files of a batch the driver has not committed, then kill -9 at once.
    True if that batch was still uncommitted after the kill (the kill really fell inside the batch)."""
    before = _uncommitted_batches(lake)  # orphans of earlier kills
    try:
        pending = wait_until("files of a batch not yet committed", lambda: _uncommitted_batches(lake) - before,
                             timeout, every_s=0.01, alive=lambda: proc.poll() is None)
    except AssertionError:
        kill_group(proc)
        return False
    kill_group(proc)
    return bool(pending & _uncommitted_batches(lake))


def test_stream_killed_9_repeatedly_under_load_lands_everything_exactly_once(broker_only, spark, tmp_path):
    """A producer runs at a steady rate while the stream is kill -9'd: during start-up, at a random moment after
    a commit, and between a batch's file writes and its commit (tried until one kill is seen to land there)."""
    lake = Lake.from_settings(broker_only)
    producer = SteadyProducer(broker_only, rate=1_000, late_share=0.05, max_lateness_s=300, malformed_share=0.05)
    producer.start()
    rng = random.Random(7)
    killed_mid_batch = False
    for point in ("start-up", "after a commit", "mid-batch", "mid-batch", "mid-batch"):
        if point == "mid-batch" and killed_mid_batch:
            break
        proc = stream_process(broker_only, tmp_path / "stream.log")
        try:
            if point == "start-up":
                time.sleep(rng.uniform(2.0, 6.0))
            else:
                wait_for_new_manifest(lake, proc)
                if point == "mid-batch":
                    killed_mid_batch = _kill_between_write_and_commit(lake, proc)
                else:
                    time.sleep(rng.uniform(0.0, 1.5))
        finally:
            if proc.poll() is None:
                kill_group(proc)
    expected = producer.finish()
    assert killed_mid_batch  # a kill left written files of an uncommitted batch behind
    drain(broker_only, spark)
    assert _orphan_files(lake)  # ... which are still in the lake (replays wrote new ones) and never read:
    assert_exactly_once(broker_only, expected)


# -- object-store errors (moto behind a fault-injecting proxy) ----------------------------------------------

@pytest.fixture
def s3(broker_only, warehouse):
    """Settings for a lake on moto's S3 reached through a FaultProxy; clients time out after 1 s. The Iceberg
    catalog (which the sensor reads for the hours the marts have) is a database of the test's own."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    with moto_server() as endpoint:
        proxy = FaultProxy(int(endpoint.rsplit(":", 1)[1]), hold_s=2.5).start()
        try:
            boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="city-lake")
            settings = broker_only.model_copy(update={
                "lake_uri": "s3://city-lake/smartcity", "s3_endpoint_url": proxy.url, "s3_max_attempts": 2,
                "s3_timeout_s": 1.0, "lake_retries": 2, "lake_retry_backoff_s": 0.2,
                "warehouse_url": SecretStr(warehouse)})
            yield settings, proxy
        finally:
            proxy.stop()


def _sensor_tick(settings):
    tick = sensor_tick(settings)
    return sorted(r.run_key for r in tick.run_requests), sorted(
        (e.asset_key.to_user_string(), e.partition, e.metadata["rows_added"].value) for e in tick.asset_events)


def test_transient_store_errors_in_writer_commit_and_listing_are_retried(s3, spark):
    settings, proxy = s3
    config, _ = produce(settings, 4_000, seed=21, partitions=1)
    rules = proxy.add(
        Rule("*", r"/raw/source=gps/.*part-", "slowdown", 3),  # data files (executors)
        Rule("*", r"/raw/source=vehicle/.*part-", "internal", 3),
        Rule("PUT", r"/raw/source=weather/.*part-", "timeout", 1),
        Rule("*", r"/quarantine/.*part-", "slowdown", 2),
        Rule("HEAD", r"/_manifests/raw/.*/000000000000\.json", "slowdown", 2),  # manifest commit (driver)
        Rule("PUT", r"/_manifests/raw/.*/000000000001\.json", "lost_response", 1),  # the retry finds it: ours
        Rule("PUT", r"/_manifests/raw/.*/000000000002\.json", "internal", 3))
    drain(settings.model_copy(update={"max_offsets_per_trigger": 1_000}), spark)
    assert [r.hits for r in rules] == [r.count for r in rules]  # every fault was really injected
    assert_exactly_once(settings, expected_messages(config))
    assert sorted(manifests.head(Lake.from_settings(settings)).values()) == [3]  # batches 0..3, each once

    # the sensor's listing and manifest reads (a small GET pyarrow itself does not retry)
    proxy.clear()
    clean = _sensor_tick(settings)
    rules = proxy.add(Rule("GET", r"list-type=2.*_manifests", "slowdown", 2),
                      Rule("GET", r"list-type=2.*_manifests", "timeout", 1),
                      Rule("GET", r"/_manifests/raw/.*\.json$", "internal", 3))
    assert _sensor_tick(settings) == clean and clean[0]
    assert [r.hits for r in rules] == [r.count for r in rules]


def test_a_commit_whose_answer_was_lost_keeps_its_files_and_is_not_repeated(s3, spark):
    """The store writes batch 0's manifest but every answer is lost: the query fails, the manifest and the
    files it names stay; after a restart the replayed batch is recognised and nothing is duplicated."""
    settings, proxy = s3
    config, _ = produce(settings, 3_000, seed=22, partitions=1)
    lost = proxy.add(Rule("PUT", r"/_manifests/raw/.*/000000000000\.json", "lost_response"))[0]
    with pytest.raises(SmartcityError, match=r"the streaming query failed: LakeUnavailable: the lake at "
                                             r"s3://city-lake/smartcity kept failing while creating "
                                             r"_manifests/raw/\w+/000000000000\.json"):
        drain(settings, spark)
    assert lost.hits > settings.lake_retries  # every try of the commit lost its answer
    lake = Lake.from_settings(settings)
    stream = next(iter(manifests.head(lake)))
    committed = manifests.read(lake, stream, 0)
    assert committed is not None and all(lake.exists(lake.path(f.path)) for f in committed.files)
    proxy.clear()
    drain(settings, spark)
    assert_exactly_once(settings, expected_messages(config))
    assert manifests.read(lake, stream, 0).files == committed.files  # the first commit stands


def test_a_permanently_failing_store_fails_the_query_clearly_and_commits_nothing(s3, spark):
    settings, proxy = s3
    lake = Lake.from_settings(settings)
    # permanent errors are not retried: one request, then a denial naming the object
    denied = proxy.add(Rule("*", r"/denied/", "access_denied"))[0]
    with pytest.raises(AccessDenied, match="cannot write s3://city-lake/smartcity/denied/x.json") as err:
        lake.write_bytes(lake.path("denied/x.json"), b"{}")
    assert denied.hits == 1 and not isinstance(err.value, LakeUnavailable)

    config, _ = produce(settings, 3_000, seed=23, partitions=1)
    failing = proxy.add(Rule("*", r"/city-lake/smartcity/(raw|quarantine)/", "slowdown"))[0]
    started = time.monotonic()
    with pytest.raises(SmartcityError, match=r"the streaming query failed: LakeUnavailable: the lake at "
                                             r"s3://city-lake/smartcity kept failing while writing (raw|quarantine)/"
                                             r".*(SlowDown|SLOW_DOWN)"):
        drain(settings, spark)
    assert failing.hits >= settings.s3_max_attempts * (settings.lake_retries + 1)
    print(f"failed after {time.monotonic() - started:.1f} s and {failing.hits} refused requests")
    assert manifests.head(lake) == {} and LakeReader(lake).partitions(layout.RAW, "gps") == []
    # the store recovers: the same batch runs again and lands everything once
    proxy.clear()
    drain(settings, spark)
    assert_exactly_once(settings, expected_messages(config))


# -- the Kafka broker away --------------------------------------------------------------------------------

def _wait_for_log(path: Path, pattern: str, proc: subprocess.Popen, timeout: float = 90, after: int = 0) -> int:
    """Wait until the log (from byte `after`) matches; return the log's size then."""
    def text() -> str:
        return path.read_text(errors="replace") if path.exists() else ""

    wait_until(f"{pattern!r} in {path}", lambda: re.search(pattern, text()[after:]), timeout, every_s=0.3,
               alive=lambda: proc.poll() is None, details=lambda: text()[-3000:])
    return len(text())


def test_stream_waits_for_the_broker_at_start_and_through_an_outage(tmp_path, spark):
    """No broker when the stream starts: it waits and starts when the broker does. Mid-run the broker is
    paused (SIGSTOP) for 15 s: the embedded broker keeps topics in memory only, so stopping it would lose
    them; a paused broker is unreachable (requests time out) yet keeps its data, like a network partition."""
    settings = embedded_settings(tmp_path)
    lake = Lake.from_settings(settings)
    log = tmp_path / "stream.log"
    proc = stream_process(settings, log)
    broker, state = stack.Broker(), None
    try:
        _wait_for_log(log, rf"waiting for the Kafka broker at 127\.0\.0\.1:{settings.broker_port}", proc)
        state = broker.start(settings)
        producer = SteadyProducer(settings, rate=1_000, malformed_share=0.02)
        producer.start()
        wait_for_new_manifest(lake, proc)
        mark = len(log.read_text(errors="replace"))
        os.kill(state.pid, signal.SIGSTOP)
        try:
            _wait_for_log(log, r"waiting for the Kafka broker at", proc, timeout=40, after=mark)
            time.sleep(3)
        finally:
            os.kill(state.pid, signal.SIGCONT)
        wait_for_new_manifest(lake, proc)  # still alive, and committing again
        expected = producer.finish()
    finally:
        kill_group(proc)
    try:
        drain(settings, spark)
        assert_exactly_once(settings, expected)
    finally:
        broker.stop(settings, state)


def _simulate_cli(settings, *args: str, **env: str) -> subprocess.Popen:
    full_env = {**os.environ, "SMARTCITY_HOME": str(settings.home_dir),
                "SMARTCITY_BROKER_PORT": str(settings.broker_port), "PYTHONPATH": str(ROOT), **env}
    return subprocess.Popen([sys.executable, "-m", "smartcity_commands.cli", "simulate", "--no-progress", *args],
                            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _kafka_values(settings) -> Counter:
    """Every message value in the topics; read until the count matches the partitions' true end offsets
    (a consumer that got no fetch answer yet on a loaded machine would think it caught up)."""
    from streaming.kafka_source import KafkaStreamReader

    reader = KafkaStreamReader({**{f"kafka.{k}": v for k, v in settings.kafka_config().items()},
                                "topics": ",".join(c.topic for c in contracts.CONTRACTS)})
    total = sum(high - low for low, high in reader.watermarks().values())
    reader.stop()
    for _ in range(5):
        values = Counter(m.value() for c in contracts.CONTRACTS for m in read_topic(settings, c.topic))
        if sum(values.values()) == total:
            return values
    raise AssertionError(f"read {sum(values.values())} messages back, the topics hold {total}")


def test_simulator_rides_out_a_short_outage_and_reports_a_long_one(tmp_path):
    settings = embedded_settings(tmp_path)
    broker = stack.Broker()
    state = broker.start(settings)
    try:
        # a 3 s outage mid-run: librdkafka keeps and retries every message, nothing is lost or doubled
        config = SimulationConfig(events=15_000, seed=41, start=START, rate=5_000, progress=False,
                                  malformed_share=0.02)
        result = {}
        producer = threading.Thread(target=lambda: result.update(report=run_simulation(settings, config)))
        producer.start()
        time.sleep(1.0)
        os.kill(state.pid, signal.SIGSTOP)
        time.sleep(3.0)
        os.kill(state.pid, signal.SIGCONT)
        producer.join()
        assert result["report"].failed == 0 and result["report"].sent == config.events
        assert _kafka_values(settings) == Counter(m.value for m in expected_messages(config))

        # an outage longer than the delivery timeout: the undelivered messages are counted, exit code 1
        before = _kafka_values(settings)
        proc = _simulate_cli(settings, "--events", "30000", "--rate", "5000", "--speed", "0", "--seed", "42",
                             SMARTCITY_KAFKA_DELIVERY_TIMEOUT_S="2")
        time.sleep(3.0)  # interpreter start-up, then about a second of producing
        os.kill(state.pid, signal.SIGSTOP)
        time.sleep(6.0)
        os.kill(state.pid, signal.SIGCONT)
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 1, out
        assert "not acknowledged by the broker within the delivery timeout" in out
        total = re.search(r"^total\s+([\d,]+)\s+([\d,]+)", out, re.M)
        sent, failed = (int(g.replace(",", "")) for g in total.groups())
        assert failed > 0 and sent + failed == 30_000
        landed = _kafka_values(settings) - before
        # every acknowledged message is in Kafka, once; a failed one may have been written without an answer
        assert max(landed.values()) == 1 and sent <= sum(landed.values()) <= sent + failed
    finally:
        os.kill(state.pid, signal.SIGCONT)
        broker.stop(settings, state)


# -- the warehouse down during a mart load ---------------------------------------------------------------

def _failure_message(result) -> str:
    """The step failures' messages with their causes (the asset's own exception is the cause)."""
    lines = []
    for event in result.all_events:
        error = event.step_failure_data.error if event.is_step_failure else None
        while error is not None:
            lines.append(error.message)
            error = error.cause
    return "\n".join(lines)


def _partition_rows(dsn: str, table: str, hour: int) -> list[tuple]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT zone_id FROM {table} WHERE event_date = '2026-11-29' AND event_hour = %s "
                    "ORDER BY zone_id", (hour,))
        return cur.fetchall()


def _wait_for_blocked_delete(dsn: str, table: str, timeout: float = 60) -> None:
    def blocked() -> int:
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
                        (f"DELETE FROM {table}%",))
            return cur.fetchone()[0]

    wait_until("the mart load to reach its DELETE (waiting on a row lock)", blocked, timeout, every_s=0.1)


def test_warehouse_dies_mid_load_then_the_retry_leaves_exactly_one_copy(broker_only, spark, tmp_path):
    pg_settings = embedded_settings(tmp_path / "pg")
    postgres = stack.Postgres()
    state = postgres.start(pg_settings)
    settings = broker_only.model_copy(update={"warehouse_url": SecretStr(pg_settings.warehouse_dsn)})
    dsn = settings.warehouse_dsn
    try:
        land(settings, spark, 6_000, datetime(2026, 11, 29, 10, 5, tzinfo=timezone.utc), vehicles=300)
        mart = dg.AssetSelection.assets(ENVIRONMENT_KEY)
        assert materialize(settings, HOUR_10, selection=dg.AssetSelection.assets(transformed_key("weather"))).success
        assert materialize(settings, HOUR_10, selection=mart).success
        first = _partition_rows(dsn, ENVIRONMENT.qualified, 10)
        assert first

        # the next load stops mid-transaction: its DELETE waits on a row lock, then the server goes down
        holder = psycopg2.connect(dsn)
        holder.cursor().execute(f"SELECT 1 FROM {ENVIRONMENT.qualified} WHERE event_hour = 10 FOR UPDATE")
        outcome = {}
        run = threading.Thread(target=lambda: outcome.update(result=materialize(settings, HOUR_10, selection=mart)))
        run.start()
        _wait_for_blocked_delete(dsn, ENVIRONMENT.qualified)
        postgres.stop(pg_settings, state)
        run.join()
        holder.close()
        assert not outcome["result"].success
        assert re.search(r"WarehouseUnavailable: the warehouse at 127\.0\.0\.1:\d+/smartcity went away while loading "
                         r"marts\.environment \(event_date=2026-11-29, event_hour=10\).*nothing of it was committed",
                         _failure_message(outcome["result"]), re.S)
        # while it is down, a load fails at once and says where it could not connect
        with pytest.raises(WarehouseUnavailable, match=r"cannot connect to the warehouse at 127\.0\.0\.1"):
            empty = pa.schema([c.arrow_field() for c in ENVIRONMENT.columns]).empty_table()
            PostgresWarehouse(dsn).replace_partition(ENVIRONMENT, PartitionData(Hour.parse(HOUR_10), empty, ""))

        state = postgres.start(pg_settings)
        assert _partition_rows(dsn, ENVIRONMENT.qualified, 10) == first  # the interrupted load left no trace
        assert materialize(settings, HOUR_10, selection=mart).success
        assert _partition_rows(dsn, ENVIRONMENT.qualified, 10) == first  # one copy, not two
    finally:
        postgres.stop(pg_settings, state)


# -- a blocking check failing on one partition ---------------------------------------------------------------

def test_a_failing_blocking_check_stops_only_that_partitions_downstream(tmp_path, warehouse, spark):
    settings = embedded_settings(tmp_path, warehouse_url=warehouse)
    lake = Lake.from_settings(settings)
    bad = [camera_row(i) for i in range(10)] + [camera_row(100 + i, vehicle_count=9) for i in range(3)]
    t11 = datetime(2026, 11, 29, 11, 5, tzinfo=timezone.utc)
    good = [camera_row(200 + i, event_time=t11, ingest_time=t11) for i in range(10)]
    commit_raw(lake, "traffic_camera", bad, batch=0)
    commit_raw(lake, "traffic_camera", good, batch=1, hour=11)
    keys = [transformed_key("traffic_camera"), transformed_catalog_key("traffic_camera"),
            mart_key("traffic_congestion")]
    instance = dg.DagsterInstance.ephemeral()
    results = {hour: materialize(settings, hour, selection=dg.AssetSelection.assets(*keys), instance=instance)
               for hour in (HOUR_10, HOUR_11)}
    failed = [e.check_name for e in results[HOUR_10].get_asset_check_evaluations() if not e.passed]
    assert failed == ["counts_add_up"]
    assert all(e.passed for e in results[HOUR_11].get_asset_check_evaluations())
    materialized = {k: instance.get_materialized_partitions(k) for k in keys}
    assert materialized == {keys[0]: {HOUR_10, HOUR_11}, keys[1]: {HOUR_11}, keys[2]: {HOUR_11}}
    catalog = LakeTables.from_settings(settings)
    assert catalog.hours(mart_table(MARTS["traffic_congestion"])) == [Hour.parse(HOUR_11)]
    assert catalog.hours(transformed_table(TABLES["traffic_camera"])) == [Hour.parse(HOUR_11)]
    assert catalog.held_back(transformed_table(TABLES["traffic_camera"])) == {HOUR_10}


def test_one_bad_hour_in_a_six_hour_backlog_blocks_only_itself_and_the_mart_hours_whose_window_holds_it(
        tmp_path, warehouse, spark):
    """A backlog run over 10:00-15:00 (one range run, as the sensor asks for many changed hours) where hour 12's
    weather fails a blocking check: the other five hours are published and their marts built; hour 12 is held
    back, and so are the mart hours that read it (environment 12; incident response 12 and 13, which read the
    hour before for the weather at each incident)."""
    settings = embedded_settings(tmp_path, warehouse_url=warehouse)
    lake = Lake.from_settings(settings)
    day = datetime(2026, 11, 29, tzinfo=timezone.utc)
    for n, hour in enumerate(range(10, 16)):
        t = day + timedelta(hours=hour, minutes=5)
        rows = [weather_row(100 * hour + i, event_time=t + timedelta(minutes=i), ingest_time=t + timedelta(minutes=i),
                            humidity_pct=150.0 if hour == 12 and i < 2 else 80.0) for i in range(12)]
        commit_raw(lake, "weather", rows, batch=n, hour=hour)
    keys = [transformed_key("weather"), transformed_catalog_key("weather"), mart_key("environment"),
            mart_key("incident_response")]
    backlog = dg.RunRequest(asset_selection=keys, tags={RANGE_START: "2026-11-29-10:00",
                                                        RANGE_END: "2026-11-29-15:00"})
    result = run_requested(settings, backlog)
    assert result.success
    failing = {e.check_name: e for e in result.get_asset_check_evaluations() if not e.passed}
    assert set(failing) == {"humidity_pct_in_range"}
    assert failing["humidity_pct_in_range"].metadata["failing_hours"].value == ["2026-11-29-12:00"]
    catalog = LakeTables.from_settings(settings)
    hours = lambda definition: [h.hour for h in catalog.hours(definition)]  # noqa: E731
    assert hours(transformed_table(TABLES["weather"])) == [10, 11, 13, 14, 15]
    assert catalog.held_back(transformed_table(TABLES["weather"])) == {"2026-11-29-12:00"}
    assert hours(mart_table(MARTS["environment"])) == [10, 11, 13, 14, 15]
    assert hours(mart_table(MARTS["incident_response"])) == [10, 11, 14, 15]
    environment = query(warehouse, "SELECT event_hour, readings FROM bi.environment ORDER BY event_hour")
    assert environment.values.tolist() == [[h, 12] for h in (10, 11, 13, 14, 15)]
    skipped = {e.asset_key: e.materialization.metadata["skipped_hours"].value
               for e in result.get_asset_materialization_events() if e.asset_key.path[0] == "marts"}
    assert skipped == {mart_key("environment"): ["2026-11-29-12:00"],
                       mart_key("incident_response"): ["2026-11-29-12:00", "2026-11-29-13:00"]}


# -- sustained poison messages ---------------------------------------------------------------------------------

def test_sustained_poison_messages_cost_only_their_quarantine_writes(broker_only, spark):
    """20 % malformed at full rate: every message lands or is quarantined once, in the same number of
    micro-batches as clean input would take, with one quarantine file per Kafka range and hour (never a
    write per message, never a failed or replayed batch)."""
    config = SimulationConfig(events=30_000, seed=51, start=START, late_share=0.02, malformed_share=0.2,
                              progress=False)
    assert run_simulation(broker_only, config).failed == 0
    per_batch = 6_000
    drain(broker_only.model_copy(update={"max_offsets_per_trigger": per_batch}), spark)
    _, quarantine = assert_exactly_once(broker_only, expected_messages(config))
    assert quarantine.num_rows == 6_000
    found, _ = manifests.list_after(Lake.from_settings(broker_only), manifests.Cursor())
    assert [m.batch_id for m in found] == list(range(math.ceil(config.events / per_batch)))
    for m in found:
        q = [f for f in m.files if f.zone == layout.QUARANTINE]
        assert len(q) <= len(m.offsets) * len({(f.date, f.hour) for f in q})
        assert sum(f.rows for f in q) == sum(sum(r.values()) for r in m.quarantine_reasons.values())
