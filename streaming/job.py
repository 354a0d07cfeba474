"""`smartcity stream`: the Spark Structured Streaming job that lands Kafka in the lake's raw zone.

    Kafka (5 topics) --smartcity_kafka--> parse (mapInArrow, contracts) --smartcity_lake--> raw + quarantine

Runs continuously (one micro-batch per trigger interval) or with Trigger.AvailableNow (everything
available at start, then stop). Prints one progress line per micro-batch. A broker that cannot be reached
at start or mid-run is waited for (SMARTCITY_BROKER_WAIT_S), logging "waiting for the Kafka broker at ...".
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from smartcity import contracts
from smartcity.errors import ConfigError, SmartcityError
from smartcity.kafka import check_broker, waiting_for_broker
from smartcity.lake import Lake, manifests
from smartcity.lake.summary import format_summary, summarize
from smartcity.settings import Settings
from smartcity.warehouse import kind_of

log = logging.getLogger(__name__)
QUERY_NAME = "raw_landing"


@dataclass(frozen=True)
class StreamRun:
    available_now: bool = False
    stop_after_s: float | None = None  # continuous mode: stop after this long (None = until Ctrl-C)
    progress: bool = True


def stream_id(settings: Settings) -> str:
    """The id under which this checkpoint's batches are committed (new checkpoint, new id)."""
    if settings.stream_id:
        return settings.stream_id
    parsed = urlparse(settings.checkpoint)
    if parsed.scheme not in ("", "file"):
        raise ConfigError(f"the checkpoint {settings.checkpoint} is not a local folder: "
                          "set SMARTCITY_STREAM_ID to 16 hex characters that stay fixed for this checkpoint")
    folder = Path(parsed.path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "lake_stream_id"
    if not path.exists():
        tmp = folder / f".lake_stream_id.{os.getpid()}"
        tmp.write_text(secrets.token_hex(8))
        tmp.replace(path)
    return path.read_text().strip()


def start_query(spark, settings: Settings, run: StreamRun):
    lake = Lake.from_settings(settings)
    reader = (spark.readStream.format("smartcity_kafka")
              .option("topics", ",".join(c.topic for c in contracts.CONTRACTS))
              .option("startingOffsets", settings.starting_offsets)
              .option("failOnDataLoss", str(settings.fail_on_data_loss).lower())
              .option("brokerWaitS", str(settings.broker_wait_s)))
    for key, value in settings.kafka_config().items():
        reader = reader.option(f"kafka.{key}", value)
    if settings.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(settings.max_offsets_per_trigger))
    # one task per core, not one per Kafka partition: a task's fixed cost dominates at real-time rates
    tasks = spark.sparkContext.defaultParallelism if settings.stream_tasks is None else settings.stream_tasks
    reader = reader.option("tasksPerBatch", str(tasks))
    parsed = reader.option("decode", "contracts").load()
    writer = (parsed.writeStream.format("smartcity_lake").queryName(QUERY_NAME).options(**lake.options())
              .option("streamId", stream_id(settings)).option("checkpointLocation", settings.checkpoint))
    if settings.live_layer:
        writer = (writer.option("liveWarehouseUrl", settings.warehouse_dsn)
                  .option("liveWarehouseKind", kind_of(settings.env))
                  .option("liveRedshiftIamRole", settings.redshift_iam_role or "")
                  .option("warehouseWaitS", str(settings.warehouse_wait_s)))
    if run.available_now:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=f"{settings.trigger_interval_s} seconds")
    return writer.start()


def run_stream(settings: Settings, run: StreamRun, spark=None) -> int:
    """Run the job until it is done (AvailableNow), `stop_after_s` passes, or Ctrl-C. Returns batches run."""
    from pyspark.errors import StreamingQueryException

    from streaming.spark import register, streaming_session

    if spark is None:
        spark = streaming_session(settings)
    register(spark)  # a session handed in (tests, benchmarks) may not have the sources yet
    waiting_for_broker(lambda: check_broker(settings, timeout_s=5.0), settings.bootstrap_servers,
                       settings.broker_wait_s, log, "starting the stream")
    lake = Lake.from_settings(settings)
    if settings.live_layer:
        prepare_live_tables(settings)
    cursor = manifests.head(lake)
    query = start_query(spark, settings, run)
    mode = "available-now" if run.available_now else f"every {settings.trigger_interval_s:g} s"
    _say(run, f"streaming {settings.bootstrap_servers} -> {settings.lake} ({mode}); checkpoint {settings.checkpoint}")
    started, last_batch, batches = time.monotonic(), -1, 0
    try:
        while query.isActive:
            if run.stop_after_s is not None and time.monotonic() - started >= run.stop_after_s:
                query.stop()
                break
            query.awaitTermination(0.5)
            progress = query.lastProgress
            if progress and progress["batchId"] != last_batch and progress["numInputRows"]:
                last_batch = progress["batchId"]
                batches += 1
                _say(run, format_progress(progress))
        query.awaitTermination()
    except KeyboardInterrupt:
        _say(run, "stopping the stream (Ctrl-C): the current micro-batch is not committed and will be replayed")
        query.stop()
    except StreamingQueryException as exc:
        raise SmartcityError(f"the streaming query failed: {_first_meaningful_line(exc)}") from None
    if run.progress:
        print(format_summary(summarize(lake, cursor)), flush=True)
    return batches


def prepare_live_tables(settings: Settings) -> None:
    """Create the live tables before the first batch, waiting for the warehouse like for the broker."""
    from smartcity.warehouse import open_warehouse
    from smartcity.warehouse.base import WarehouseUnavailable
    from smartcity.warehouse.live import LiveLayer

    warehouse = open_warehouse(kind_of(settings.env), settings.warehouse_dsn, settings.redshift_iam_role)
    deadline = time.monotonic() + settings.warehouse_wait_s
    while True:
        try:
            LiveLayer(warehouse).ensure()
            return
        except WarehouseUnavailable as exc:
            if time.monotonic() >= deadline:
                raise SmartcityError(f"{exc} (the live layer needs it; SMARTCITY_LIVE_LAYER=false streams "
                                     "without it)") from None
            log.warning("waiting for the warehouse (live layer): %s", exc)
            time.sleep(2.0)


def _say(run: StreamRun, text: str) -> None:
    if run.progress:
        print(text, flush=True)


def format_progress(p: dict) -> str:
    source = p["sources"][0] if p.get("sources") else {}
    lag = consumer_lag(source.get("endOffset"), source.get("latestOffset"))
    lag_text = ", ".join(f"{t.split('.')[-1]} {n:,}" for t, n in sorted(lag.items())) or "-"
    duration = p.get("durationMs", {}).get("triggerExecution", 0) / 1000
    return (f"batch {p['batchId']:>4}: {p['numInputRows']:>8,} rows in {duration:5.2f} s | "
            f"input {p.get('inputRowsPerSecond', 0):>9,.0f} rows/s, processed "
            f"{p.get('processedRowsPerSecond', 0):>9,.0f} rows/s | lag: {lag_text}")


def consumer_lag(end, latest) -> dict[str, int]:
    """Records not yet read, per topic: latest offsets minus the batch's end offsets."""
    import json

    end = json.loads(end) if isinstance(end, str) else end
    latest = json.loads(latest) if isinstance(latest, str) else latest
    if not end or not latest:
        return {}
    lag: dict[str, int] = {}
    for key, high in latest.get("offsets", {}).items():
        topic = key.rpartition("/")[0]
        lag[topic] = lag.get(topic, 0) + max(0, high - end.get("offsets", {}).get(key, 0))
    return lag


def _first_meaningful_line(exc: Exception) -> str:
    """The Python error raised inside the query (e.g. the source's DataLossError), without Java noise."""
    text = str(exc)
    errors = re.findall(r"^((?:\w+\.)*)(\w+): (.+?)(?=\n\S|\n\n|\Z)", text, re.M | re.S)
    python = [(name, msg) for module, name, msg in errors
              if (name.endswith(("Error", "Exception")) or module.startswith(("smartcity.", "streaming.")))
              and name not in ("PythonException", "StreamingQueryException")]
    if python:
        name, msg = python[-1]
        msg = re.split(r"\n\s*at [\w.$]+\(", msg)[0]  # no Java stack lines
        return f"{name}: {msg.split(' SQLSTATE')[0].strip()}"
    return text.splitlines()[0] if text else repr(exc)
