"""Helpers shared by the test modules (fixtures live in conftest.py): settings for private embedded services,
landing simulated events, the exactly-once assertions, running assets and sensor ticks, waiting for a
condition, the command line, and reading what the lake and the warehouse hold."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import orjson
import pandas as pd
import psycopg2
import pyarrow as pa
import pyarrow.compute as pc

from smartcity import contracts
from smartcity.catalog.query import local_query
from smartcity.catalog.tables import mart_table, transformed_table
from smartcity.lake.iceberg import LakeTables
from smartcity.lake import Lake, layout, manifests
from smartcity.lake.layout import Hour
from smartcity.lake.manifests import DataFile, Manifest
from smartcity.lake.reader import LakeReader
from smartcity.lake.schemas import RAW_FILE_SCHEMAS
from smartcity.marts import BY_NAME as MARTS_BY_NAME
from smartcity.marts import MARTS
from smartcity.settings import Settings, load_settings
from smartcity.simulator.run import EventStream, SimulationConfig, run_simulation
from smartcity_commands.stack import free_port
from smartcity.tables import BY_NAME as TABLES_BY_NAME
from smartcity.tables import TABLES
from streaming.job import StreamRun, run_stream

ROOT = Path(__file__).parents[1]
HOUR_10, HOUR_11 = "2026-11-29-10:00", "2026-11-29-11:00"
# 30 s before an hour boundary: late events (held 30 s..5 min) land in the earlier hour.
START = datetime(2026, 11, 29, 10, 59, 30, tzinfo=timezone.utc)


def embedded_settings(home, **overrides) -> Settings:
    """Settings for an embedded stack of our own: free ports, private state folder, nothing external. Dagster
    runs use the test session's in-process Spark unless a test asks for the warm one (`spark_remote=None`)."""
    ports = set()
    while len(ports) < 3:  # three different ones (a port just freed can be handed out again)
        ports.add(free_port())
    broker, postgres, connect = sorted(ports)
    values = dict(home=home, broker_port=broker, postgres_port=postgres, spark_connect_port=connect,
                  kafka_bootstrap_servers=None, warehouse_url=None, lake_uri=None, spark_remote="in-process",
                  live_layer=False)  # tests of the live layer (and of the whole platform) turn it on
    return load_settings(**{**values, **overrides})


def command_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a user's shell running a command against `settings`' embedded stack: nothing this
    test process set for its own Spark (PYSPARK_*) leaks in, so the command must set up its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_", "SMARTCITY_", "DAGSTER_"))}
    env.update(SMARTCITY_HOME=str(settings.home_dir), SMARTCITY_BROKER_PORT=str(settings.broker_port),
               SMARTCITY_POSTGRES_PORT=str(settings.postgres_port), SMARTCITY_SPARK_MASTER="local[2]",
               SMARTCITY_SPARK_CONNECT_PORT=str(settings.spark_connect_port))
    env.update(extra)
    return env


def wait_until(what: str, probe, timeout_s: float = 120, every_s: float = 0.2, alive=None, details=lambda: ""):
    """Poll `probe()` until it returns something truthy and return that; `alive()` (when given) must stay true
    meanwhile. Fails naming `what` (and `details()`) when the time is up."""
    deadline = time.monotonic() + timeout_s
    while True:
        if alive is not None and not alive():
            raise AssertionError(f"stopped while waiting for {what}. {details()}")
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting {timeout_s:.0f} s for {what}. {details()}")
        time.sleep(every_s)


# -- simulated events into Kafka and the lake -----------------------------------------------------------------

def land(settings, spark, events: int, start: datetime, seed: int = 1, **extra) -> SimulationConfig:
    """Simulate `events` into Kafka, then stream everything available into the lake."""
    config = SimulationConfig(events=events, seed=seed, start=start, progress=False, **extra)
    assert run_simulation(settings, config).failed == 0
    drain(settings, spark)
    return config


def drain(settings, spark) -> None:
    run_stream(settings, StreamRun(available_now=True, progress=False), spark=spark)


def send_events(settings, events: dict[str, list[dict]], junk: dict[str, list[bytes]] | None = None) -> None:
    """Each event as the JSON message its contract describes, keyed by its entity id, straight to Kafka (in list
    order per source); `junk`: raw messages per topic, sent after."""
    from confluent_kafka import Producer

    from smartcity.kafka import ensure_topics

    ensure_topics(settings, [c.topic for c in contracts.CONTRACTS])
    producer = Producer({**settings.kafka_config(), "enable.idempotence": True})
    for source, rows in events.items():
        contract = contracts.BY_NAME[source]
        for row in rows:
            value = {k: (v.isoformat().replace("+00:00", "Z") if isinstance(v, datetime) else v) for k, v in row.items()}
            producer.produce(contract.topic, key=row[contract.key].encode(), value=orjson.dumps(value))
    for topic, messages in (junk or {}).items():
        for message in messages:
            producer.produce(topic, value=message)
    assert producer.flush(30) == 0


def produce(settings, events: int, seed: int = 1, **extra):
    """Simulated events from START with late (5 %) and malformed (2 %) ones, into Kafka."""
    config = SimulationConfig(events=events, seed=seed, start=START, late_share=0.05, max_lateness_s=300,
                              malformed_share=0.02, progress=False, **extra)
    report = run_simulation(settings, config)
    assert report.failed == 0
    return config, report


def expected_messages(config: SimulationConfig) -> list:
    """The messages a simulation with this config sends, computed again without Kafka."""
    stream = EventStream(config)
    out = []
    while stream.generated < config.events:
        out.extend(stream.tick(config.events - stream.generated))
    return out + stream.drain()


def read_lake(settings) -> tuple[pa.Table, pa.Table | None]:
    """Every committed raw row (all sources, with their partition) and every quarantined row."""
    lake = Lake.from_settings(settings)
    reader = LakeReader(lake)
    raw, quarantine = [], []
    for contract in contracts.CONTRACTS:
        for p in reader.partitions(layout.RAW, contract.name):
            t = reader.read_partition(p)
            raw.append(pa.table({
                "source": [contract.name] * t.num_rows, "event_id": t.column("event_id"),
                "event_time": t.column("event_time"), "kafka_topic": t.column("kafka_topic"),
                "kafka_partition": t.column("kafka_partition"), "kafka_offset": t.column("kafka_offset"),
                "part_date": [p.date] * t.num_rows, "part_hour": [p.hour] * t.num_rows}))
        for p in reader.partitions(layout.QUARANTINE, contract.name):
            quarantine.append(reader.read_partition(p))
    return pa.concat_tables(raw), (pa.concat_tables(quarantine) if quarantine else None)


def assert_exactly_once(settings, expected: list) -> tuple[pa.Table, pa.Table | None]:
    """The lake holds each expected message once: valid ones in the raw zone, in the hour of their event time;
    malformed ones in the quarantine with the reason the simulator meant; every Kafka offset exactly once."""
    raw, quarantine = read_lake(settings)
    n_bad = sum(1 for m in expected if m.malformed)
    n_quarantined = quarantine.num_rows if quarantine is not None else 0
    assert raw.num_rows + n_quarantined == len(expected)
    assert n_quarantined == n_bad
    coords = Counter()
    for t in (raw, quarantine):
        if t is None:
            continue
        for topic, part, off in zip(*(t.column(c).to_pylist() for c in ("kafka_topic", "kafka_partition",
                                                                          "kafka_offset"))):
            coords[(topic, part, off)] += 1
    assert max(coords.values()) == 1
    per_partition = Counter((t, p) for t, p, _ in coords)
    for (topic, part), n in per_partition.items():  # per Kafka partition: offsets 0..end-1 without gaps
        assert {o for t, p, o in coords if (t, p) == (topic, part)} == set(range(n))
    valid_ids = sorted(orjson.loads(m.value)["event_id"] for m in expected if not m.malformed)
    assert sorted(raw.column("event_id").to_pylist()) == valid_ids
    if n_bad:
        assert Counter(quarantine.column("raw_value").to_pylist()) == Counter(m.value for m in expected if m.malformed)
        assert Counter(quarantine.column("reason").to_pylist()) == Counter(m.expected_reason for m in expected
                                                                           if m.malformed)
    dates = pc.strftime(raw.column("event_time"), "%Y-%m-%d").to_pylist()
    hours = pc.hour(raw.column("event_time")).to_pylist()
    assert dates == raw.column("part_date").to_pylist() and hours == raw.column("part_hour").to_pylist()
    return raw, quarantine


def commit_raw(lake: Lake, source: str, rows: list[dict], batch: int, hour: int = 10) -> None:
    """Write raw rows the way the streaming sink does (file + manifest), bypassing contract validation."""
    table = pa.Table.from_pylist(rows, schema=RAW_FILE_SCHEMAS[source])
    part = layout.PartitionKey("raw", source, "2026-11-29", hour)
    stream = "ab" * 8
    rel = f"{part.directory}/{layout.data_file_name(stream, batch, uuid.uuid4().hex)}"
    size = lake.write_parquet(table, lake.path(rel))
    manifests.commit(lake, Manifest(stream, batch, manifests.now_iso(),
                                    [DataFile(rel, "raw", source, part.date, part.hour, len(rows), size)], []))


def camera_row(i: int, **overrides) -> dict:
    """A valid raw camera count (hour 10 of 2026-11-29), with `overrides`."""
    t = datetime(2026, 11, 29, 10, 5, tzinfo=timezone.utc)
    row = {"event_id": str(uuid.UUID(int=i, version=4)), "camera_id": "CAM-0001", "event_time": t,
           "segment_id": "SEG-0001", "latitude": 52.34, "longitude": 4.86, "window_seconds": 60,
           "vehicle_count": 3, "car_count": 2, "bus_count": 1, "truck_count": 0, "emergency_count": 0,
           "mean_speed_kmh": 30.0, "kafka_topic": contracts.TRAFFIC_CAMERA.topic, "kafka_partition": 0,
           "kafka_offset": i, "kafka_timestamp": t, "ingest_time": t}
    row.update(overrides)
    return row


def weather_row(i: int, **overrides) -> dict:
    """A valid raw weather reading of zone Z01's station (10:05 on 2026-11-29), with `overrides`."""
    t = datetime(2026, 11, 29, 10, 5, tzinfo=timezone.utc)
    row = {"event_id": str(uuid.UUID(int=10_000 + i, version=4)), "station_id": "WS-Z01", "event_time": t,
           "zone_id": "Z01", "latitude": 52.34, "longitude": 4.86, "temperature_c": 8.0, "humidity_pct": 80.0,
           "precipitation_mm_h": 0.0, "wind_speed_ms": 3.0, "wind_direction_deg": 270.0, "pressure_hpa": 1012.0,
           "air_quality_index": 40, "pm25_ugm3": 8.0, "condition": "cloudy",
           "kafka_topic": contracts.WEATHER.topic, "kafka_partition": 0, "kafka_offset": i, "kafka_timestamp": t,
           "ingest_time": t}
    row.update(overrides)
    return row


@contextmanager
def running_broker(settings):
    """An embedded broker of its own for `settings` (empty topics), stopped afterwards."""
    from smartcity_commands import stack

    broker = stack.Broker()
    state = broker.start(settings)
    try:
        yield settings
    finally:
        broker.stop(settings, state)


@contextmanager
def moto_server():
    """A moto server (S3, Glue, Athena, ...) on a free port: its endpoint URL. moto keeps one state per
    process, so it is reset when the server starts and when it stops: no test sees another's buckets."""
    import urllib.request

    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"

    def reset():
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)

    reset()
    try:
        yield endpoint
    finally:
        reset()
        server.stop()


# -- processes -------------------------------------------------------------------------------------------------

def stream_process(settings, log_path, **env) -> subprocess.Popen:
    """`smartcity stream` in its own process group (a micro-batch every 0.5 s, at most 4,000 records each), with
    the live layer on or off and the warehouse as `settings` say."""
    full = {**os.environ, "SMARTCITY_HOME": str(settings.home_dir), "SMARTCITY_BROKER_PORT": str(settings.broker_port),
            "SMARTCITY_SPARK_MASTER": "local[2]", "SMARTCITY_TRIGGER_INTERVAL_S": "0.5",
            "SMARTCITY_MAX_OFFSETS_PER_TRIGGER": "4000", "SMARTCITY_LIVE_LAYER": str(settings.live_layer).lower(),
            **({"SMARTCITY_WAREHOUSE_URL": settings.warehouse_url.get_secret_value()} if settings.warehouse_url else {}),
            **env}
    return subprocess.Popen([sys.executable, "-m", "smartcity_commands.cli", "stream"], env=full,
                            stdout=open(log_path, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


def kill_group(proc: subprocess.Popen) -> None:
    """kill -9 of a process and everything it started (the driver, its JVM and Python workers)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def wait_for_new_manifest(lake: Lake, proc: subprocess.Popen, timeout: float = 120) -> None:
    start_head = manifests.head(lake)
    wait_until("a micro-batch to be committed", lambda: manifests.head(lake) != start_head, timeout,
               alive=lambda: proc.poll() is None)


def smartcity(*args: str, env: dict | None = None, cwd=None, timeout: float = 120) -> subprocess.CompletedProcess:
    """The command line, in a fresh interpreter."""
    return subprocess.run([sys.executable, "-m", "smartcity_commands.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=timeout)


# -- Dagster ---------------------------------------------------------------------------------------------------

def materialize(settings, partition_key: str, selection=None, extra_assets=(), instance=None, raise_on_error=False):
    """One run of the code location's assets for an hour (default: the transformed group), in process."""
    from smartcity_assets.definitions import DOMAINS
    from smartcity_assets.resources import resources_for

    assets = [a for d in DOMAINS for a in (d.assets or ())]
    return dg.materialize([*assets, *extra_assets], partition_key=partition_key, resources=resources_for(settings),
                          selection=selection or dg.AssetSelection.groups("transformed"), instance=instance,
                          raise_on_error=raise_on_error)


def run_requested(settings, request, **kwargs):
    """A run the sensor requested (an hour, or a range of hours), in this process."""
    from smartcity_assets.definitions import definitions_for, execute_in_process

    return execute_in_process(definitions_for(settings), request, raise_on_error=False, **kwargs)


def sensor_tick(settings, cursor=None):
    from smartcity_assets.defs.sensors import raw_manifest_sensor
    from smartcity_assets.resources import resources_for

    resources = resources_for(settings)
    with dg.build_sensor_context(cursor=cursor, resources={k: resources[k] for k in ("lake", "tables")}) as context:
        return raw_manifest_sensor(context)


# -- reading what was written ----------------------------------------------------------------------------------

def read_transformed(settings, table: str, partition_key: str, snapshot_id: int | None = None) -> pa.Table:
    """A transformed table's hour as its Iceberg table holds it (at the current or the given snapshot)."""
    return LakeTables.from_settings(settings).read(transformed_table(TABLES_BY_NAME[table]),
                                                   [Hour.parse(partition_key)], snapshot_id)


def read_mart(settings, mart: str, partition_key: str) -> pa.Table:
    """A mart's hour as its Iceberg table (the lake copy) holds it."""
    return LakeTables.from_settings(settings).read(mart_table(MARTS_BY_NAME[mart]), [Hour.parse(partition_key)])


def read_raw(lake: Lake, source: str, partition_key: str) -> pa.Table:
    return LakeReader(lake).read_partition(layout.PartitionKey.raw(source, Hour.parse(partition_key)))


@dataclass(frozen=True)
class HourOutputs:
    """What a run of every layer wrote for an hour: the rows of the hour in every transformed and mart Iceberg
    table (in order: the files are sorted), mart rows in the warehouse, and every table `smartcity query` sees
    (its rows, sorted)."""

    lake: dict[str, list[tuple]]
    warehouse: dict[str, list[tuple]]
    catalog: dict[str, list[tuple]]


def lake_rows(settings, partition_key: str) -> dict[str, list[tuple]]:
    """The rows of the hour (as text, in file order) in every transformed and mart table that holds it."""
    tables, hour = LakeTables.from_settings(settings), Hour.parse(partition_key)
    definitions = [transformed_table(t) for t in TABLES] + [mart_table(m) for m in MARTS]
    return {d.name: [tuple(map(str, r.values())) for r in tables.read(d, [hour]).to_pylist()]
            for d in definitions if tables.hour_files(d, [hour])}


def hour_outputs(settings, partition_key: str) -> HourOutputs:
    lake = lake_rows(settings, partition_key)
    warehouse = {m.name: sorted(map(tuple, query(settings.warehouse_dsn, f"SELECT * FROM {m.qualified}")
                                    .astype(str).values.tolist())) for m in MARTS}
    _, views = local_query(settings, "SELECT table_name FROM duckdb_tables() UNION ALL "
                                     "SELECT view_name FROM duckdb_views() WHERE NOT internal")
    catalog = {v: sorted(tuple(map(str, row)) for row in local_query(settings, f'SELECT * FROM "{v}"')[1])
               for (v,) in views}
    return HourOutputs(lake, warehouse, catalog)


@contextmanager
def temporary_database(server_dsn: str):
    """The URL of a new, empty database on the server of `server_dsn`, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(server_dsn)
    admin.autocommit = True
    try:
        admin.cursor().execute(f"CREATE DATABASE {name}")
        yield server_dsn.rsplit("/", 1)[0] + f"/{name}"
        admin.cursor().execute(f"DROP DATABASE {name} WITH (FORCE)")
    finally:
        admin.close()


def query(dsn: str, sql: str, params=None) -> pd.DataFrame:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])


class TcpProxy:
    """A TCP forwarder on a free port in front of `upstream_port` (a database, say) that can be cut: while
    `down`, new connections are closed at once and open ones are dropped. It can also hold back the answer to
    the next PostgreSQL COMMIT (`hold_next_commit`)."""

    def __init__(self, upstream_port: int):
        self.upstream_port, self.down, self.allowed = upstream_port, False, 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._open: list[socket.socket] = []
        self._hold: threading.Event | None = None
        threading.Thread(target=self._accept, daemon=True).start()

    def hold_next_commit(self) -> threading.Event:
        """From now on, the server's answer to the next COMMIT (its CommandComplete message) is never passed on:
        the transaction is committed on the server while its client still waits to hear so. The event returned
        is set once that happened."""
        self._hold = threading.Event()
        return self._hold

    def cut(self, after: int = 0) -> None:
        """Drop the open connections, and refuse new ones after the next `after`."""
        self.down, self.allowed = True, after
        for conn in self._open:
            conn.close()
        self._open.clear()

    def restore(self) -> None:
        self.down = False

    def _accept(self) -> None:
        while True:
            client, _ = self._server.accept()
            if self.down and self.allowed <= 0:
                client.close()
                continue
            self.allowed -= 1
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._open += [client, upstream]
            for a, b, answers in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pump, args=(a, b, answers), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, answers: bool) -> None:
        try:
            while data := source.recv(65536):
                hold = self._hold
                if answers and hold is not None and not hold.is_set() and b"COMMIT\x00" in data:
                    hold.set()
                    threading.Event().wait()  # the client waits for ever (until it is killed)
                target.sendall(data)
        except OSError:
            pass
        finally:
            for conn in (source, target):
                try:
                    conn.close()
                except OSError:
                    pass


def mart_rows(mart, rows: list[dict]) -> pa.Table:
    """Rows of a mart built by hand (missing columns null), typed as the mart's spec says."""
    return pa.Table.from_pylist([{c: r.get(c) for c in mart.column_names} for r in rows],
                                schema=pa.schema([c.arrow_field() for c in mart.columns]))
