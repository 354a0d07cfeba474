"""Kafka -> Spark Structured Streaming -> lake, exactly once: real broker, real Spark, local lake and S3."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timezone

import boto3
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from smartcity import contracts
from smartcity.lake import Lake, layout, manifests
from smartcity.lake.reader import LakeReader
from smartcity.lake.summary import summarize
from smartcity.simulator.run import EventStream, SimulationConfig, run_simulation
from smartcity.stack import free_port
from streaming.job import StreamRun, run_stream

# Starts 30 s before an hour boundary: late events (held 30 s..5 min) land in the earlier hour.
START = datetime(2026, 11, 29, 10, 59, 30, tzinfo=timezone.utc)


def produce(settings, events: int, seed: int = 1, **extra):
    config = SimulationConfig(events=events, seed=seed, start=START, late_share=0.05, max_lateness_s=300,
                              malformed_share=0.02, progress=False, **extra)
    report = run_simulation(settings, config)
    assert report.failed == 0
    return config, report


def expected_messages(config: SimulationConfig) -> list:
    stream = EventStream(config)
    out = []
    while stream.generated < config.events:
        out.extend(stream.tick(config.events - stream.generated))
    return out + stream.drain()


def read_lake(settings) -> tuple[pa.Table, pa.Table]:
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


def assert_exactly_once(settings, expected: list) -> tuple[pa.Table, pa.Table]:
    raw, quarantine = read_lake(settings)
    n_bad = sum(1 for m in expected if m.malformed)
    assert raw.num_rows + quarantine.num_rows == len(expected)
    assert quarantine.num_rows == n_bad
    # every Kafka offset landed exactly once: per partition, the offsets are 0..end-1 without gaps
    coords = Counter()
    for t in (raw, quarantine):
        for topic, part, off in zip(*(t.column(c).to_pylist() for c in ("kafka_topic", "kafka_partition",
                                                                          "kafka_offset"))):
            coords[(topic, part, off)] += 1
    assert max(coords.values()) == 1
    per_partition = Counter((t, p) for t, p, _ in coords)
    for (topic, part), n in per_partition.items():
        assert {o for t, p, o in coords if (t, p) == (topic, part)} == set(range(n))
    # the valid events are exactly the expected ones, and quarantined payloads are the malformed ones
    valid_ids = sorted(orjson.loads(m.value)["event_id"] for m in expected if not m.malformed)
    assert sorted(raw.column("event_id").to_pylist()) == valid_ids
    assert Counter(quarantine.column("raw_value").to_pylist()) == Counter(m.value for m in expected if m.malformed)
    want_reasons = Counter(m.expected_reason for m in expected if m.malformed)
    assert Counter(quarantine.column("reason").to_pylist()) == want_reasons
    # every event sits in the partition of its event time, late ones included
    dates = pc.strftime(raw.column("event_time"), "%Y-%m-%d").to_pylist()
    hours = pc.hour(raw.column("event_time")).to_pylist()
    assert dates == raw.column("part_date").to_pylist() and hours == raw.column("part_hour").to_pylist()
    return raw, quarantine


def test_exactly_once_with_late_and_malformed_events(broker_only, spark):
    config, report = produce(broker_only, 40_000)
    run_stream(broker_only, StreamRun(available_now=True, progress=False), spark=spark)
    expected = expected_messages(config)
    raw, _ = assert_exactly_once(broker_only, expected)

    # late events really arrived after newer ones and still landed in their own (earlier) hour
    late_ids = {orjson.loads(m.value)["event_id"] for m in expected if m.late and not m.malformed}
    rows = raw.to_pylist()
    first_offset_of_hour_11 = {}
    for r in rows:
        if r["part_hour"] == 11:
            key = (r["kafka_topic"], r["kafka_partition"])
            first_offset_of_hour_11[key] = min(first_offset_of_hour_11.get(key, 1 << 62), r["kafka_offset"])
    late_in_10 = [r for r in rows if r["event_id"] in late_ids and r["part_hour"] == 10
                  and r["kafka_offset"] > first_offset_of_hour_11.get((r["kafka_topic"], r["kafka_partition"]), 1 << 62)]
    assert len(late_in_10) > 20

    # the manifests account for every row, and re-running commits nothing new
    summary = summarize(Lake.from_settings(broker_only))
    assert summary.landed == raw.num_rows and summary.quarantined_total == sum(1 for m in expected if m.malformed)
    head = manifests.head(Lake.from_settings(broker_only))
    run_stream(broker_only, StreamRun(available_now=True, progress=False), spark=spark)
    assert manifests.head(Lake.from_settings(broker_only)) == head
    assert_exactly_once(broker_only, expected)


def test_a_replayed_or_aborted_batch_is_never_visible(broker_only, spark, tmp_path):
    """Drive the sink's commit protocol directly: replay of a committed batch id, and an abort."""
    from streaming.lake_sink import LakeCommitMessage, LakeStreamWriter

    produce(broker_only, 5_000)
    run_stream(broker_only, StreamRun(available_now=True, progress=False), spark=spark)
    lake = Lake.from_settings(broker_only)
    before = read_lake(broker_only)[0].num_rows
    stream_id = next(iter(manifests.head(lake)))
    committed = manifests.read(lake, stream_id, 0)
    writer = LakeStreamWriter({"lake": lake.uri, "streamId": stream_id})
    # a replay of batch 0 wrote a copy of one of its files under a new name, then tried to commit
    original = committed.files[0]
    copy_path = f"{original.path.rsplit('/', 1)[0]}/" + layout.data_file_name(stream_id, 0, "f" * 32)
    lake.write_bytes(lake.path(copy_path), lake.read_bytes(lake.path(original.path)))
    replay = LakeCommitMessage(files=[manifests.DataFile(copy_path, original.zone, original.source,
                                                         original.date, original.hour, original.rows,
                                                         original.bytes)])
    writer.commit([replay], 0)
    assert not lake.exists(lake.path(copy_path))  # the replay's files are removed, the first commit stays
    assert manifests.read(lake, stream_id, 0).files == committed.files
    # an uncommitted batch's file is never read, and abort removes it
    orphan = f"{original.path.rsplit('/', 1)[0]}/" + layout.data_file_name(stream_id, 999, "e" * 32)
    lake.write_bytes(lake.path(orphan), lake.read_bytes(lake.path(original.path)))
    assert read_lake(broker_only)[0].num_rows == before
    writer.abort([LakeCommitMessage(files=[manifests.DataFile(orphan, "raw", original.source, original.date,
                                                              original.hour, 1, 1)]), None], 999)
    assert not lake.exists(lake.path(orphan))


def _stream_process(settings, log_path) -> subprocess.Popen:
    env = {**os.environ, "SMARTCITY_HOME": str(settings.home_dir),
           "SMARTCITY_BROKER_PORT": str(settings.broker_port), "SMARTCITY_SPARK_MASTER": "local[2]",
           "SMARTCITY_TRIGGER_INTERVAL_S": "0.5", "SMARTCITY_MAX_OFFSETS_PER_TRIGGER": "4000"}
    return subprocess.Popen([sys.executable, "-m", "smartcity.cli", "stream"], env=env,
                            stdout=open(log_path, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for_new_manifest(lake: Lake, proc: subprocess.Popen, timeout: float = 120) -> None:
    start_head = manifests.head(lake)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the streaming process died on its own"
        if manifests.head(lake) != start_head:
            return
        time.sleep(0.2)
    raise AssertionError("no micro-batch was committed in time")


def test_crash_safety_kill_9_mid_run_twice(broker_only, spark, tmp_path):
    lake = Lake.from_settings(broker_only)
    config = SimulationConfig(events=60_000, seed=3, start=START, late_share=0.05, max_lateness_s=300,
                              malformed_share=0.02, progress=False, rate=4_000)
    producer = threading.Thread(target=run_simulation, args=(broker_only, config))
    producer.start()
    kills = 0
    for _ in range(2):
        proc = _stream_process(broker_only, tmp_path / "stream.log")
        try:
            _wait_for_new_manifest(lake, proc)
            time.sleep(1.3)  # now mid-run: batches keep coming every 0.5 s
        finally:
            os.killpg(proc.pid, signal.SIGKILL)  # the driver, its JVM and Python workers
            proc.wait()
            kills += 1
    producer.join()
    assert kills == 2
    # restart and drain everything; nothing lost, nothing twice
    run_stream(broker_only, StreamRun(available_now=True, progress=False), spark=spark)
    assert_exactly_once(broker_only, expected_messages(config))


def test_same_pipeline_on_s3(broker_only, spark, tmp_path):
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="city-lake")
        settings = broker_only.model_copy(update={"lake_uri": "s3://city-lake/smartcity",
                                                  "s3_endpoint_url": endpoint})
        config, _ = produce(settings, 10_000, seed=5)
        run_stream(settings, StreamRun(available_now=True, progress=False), spark=spark)
        assert_exactly_once(settings, expected_messages(config))
        keys = [o["Key"] for o in boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
                .list_objects_v2(Bucket="city-lake", Prefix="smartcity/_manifests/")["Contents"]]
        assert keys and all(k.endswith(".json") for k in keys)
    finally:
        server.stop()


def test_offsets_lost_by_a_broker_restart_fail_the_query_clearly(tmp_path, spark):
    from smartcity import stack
    from smartcity.errors import SmartcityError

    from .conftest import embedded_settings

    settings = embedded_settings(tmp_path)
    broker = stack.Broker()
    state = broker.start(settings)
    try:
        produce(settings, 3_000)
        run_stream(settings, StreamRun(available_now=True, progress=False), spark=spark)
        broker.stop(settings, state)
        state = broker.start(settings)  # in-memory: starts empty
        produce(settings, 500, seed=9)
        with pytest.raises(SmartcityError, match="no longer exist"):
            run_stream(settings, StreamRun(available_now=True, progress=False), spark=spark)
        lenient = settings.model_copy(update={"fail_on_data_loss": False})
        run_stream(lenient, StreamRun(available_now=True, progress=False), spark=spark)
        assert summarize(Lake.from_settings(settings)).landed + summarize(
            Lake.from_settings(settings)).quarantined_total == 3_000 + 500
    finally:
        broker.stop(settings, state)
