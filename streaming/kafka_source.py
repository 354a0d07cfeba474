"""A Kafka source for Spark Structured Streaming, on confluent-kafka and Spark's Python data source API.

Spark's built-in `kafka` source needs a jar that cannot be downloaded here; this one needs nothing but
PyPI. It behaves like the built-in one where it matters:

- Offsets live in Spark's checkpoint as {"offsets": {"topic/partition": next offset}}; a restarted query
  resumes exactly where it committed. A micro-batch's offset ranges are read on executors with assign/seek
  (no consumer group).
- Tasks: by default each Kafka partition's offset range is one Spark task, as in the built-in source. With
  `tasksPerBatch` = N the batch's ranges are spread over at most N tasks with about the same number of
  records each (a range larger than a task's share is split; a task reads its ranges with one consumer).
  A task has a fixed cost (a Python worker's turn, a broker connection, its own files), so at real-time
  rates one task per core beats one per partition.
- Options: `kafka.bootstrap.servers` (and any other `kafka.*` client setting, e.g. SASL/TLS), `topics`
  (comma separated), `startingOffsets` (earliest | latest | JSON {"topic": {"0": 42}}, -2 = earliest,
  -1 = latest), `maxOffsetsPerTrigger`, `tasksPerBatch`, `failOnDataLoss` (default true).
- Trigger.AvailableNow: the end offsets are fixed when the query starts.
- The end of a partition is the high watermark carried in Fetch responses, not ListOffsets(latest):
  some brokers (the embedded tansu) answer ListOffsets with the last batch's base offset + 1, which
  would leave the tail of a partition unread until more data arrives.
- Offsets that no longer exist (retention, or an in-memory broker that restarted empty) fail the query
  with a message saying what happened, or — with failOnDataLoss=false — continue from the earliest
  available offset with a warning. New partitions are read from their earliest offset.
- A broker that cannot be reached (down, restarting, paused) is waited for, at planning on the driver and
  while reading on the executors, logging "waiting for the Kafka broker at ...", for up to `brokerWaitS`
  seconds (default 600); then the query fails saying so.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import (
    ReadAllAvailable,
    ReadLimit,
    ReadMaxRows,
    SupportsTriggerAvailableNow,
)

from smartcity.kafka import waiting_for_broker
from smartcity.spark.types import spark_from_arrow
from streaming.schemas import KAFKA_RECORD, PARSED

log = logging.getLogger("smartcity.streaming.kafka_source")

EARLIEST, LATEST = -2, -1
READ_BATCH_ROWS = 20_000
STALL_TIMEOUT_S = 600.0  # an executor waiting this long for a planned offset fails the task
BROKER_CALL_TIMEOUT_S = 10  # one metadata / offsets request while planning; retried while the broker is away


class DataLossError(RuntimeError):
    pass


def _key(topic: str, partition: int) -> str:
    return f"{topic}/{partition}"


def _split(key: str) -> tuple[str, int]:
    topic, _, partition = key.rpartition("/")
    return topic, int(partition)


class KafkaSource(DataSource):
    @classmethod
    def name(cls) -> str:
        return "smartcity_kafka"

    def schema(self):
        return spark_from_arrow(PARSED if _decodes(self.options) else KAFKA_RECORD)

    def streamReader(self, schema) -> "KafkaStreamReader":
        return KafkaStreamReader(dict(self.options))


def _decodes(options) -> bool:
    return str(options.get("decode", "none")).lower() == "contracts"


@dataclass(frozen=True, order=True)
class KafkaRange:
    """Offsets [start, end) of one Kafka partition."""

    topic: str
    partition: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


class KafkaTask(InputPartition):
    """The offset ranges one Spark task reads."""

    def __init__(self, ranges: list[KafkaRange]):
        super().__init__(tuple(ranges))
        self.ranges = tuple(ranges)


def spread(ranges: list[KafkaRange], tasks: int) -> list[KafkaTask]:
    """`ranges` over at most `tasks` tasks with about the same number of records each (0 = a task per range).

    A range larger than a task's share is split at share boundaries; then the pieces go, largest first, to the
    task holding the fewest records so far.
    """
    if tasks <= 0:
        return [KafkaTask([r]) for r in ranges]
    share = -(-sum(r.size for r in ranges) // tasks) or 1
    pieces = [KafkaRange(r.topic, r.partition, start, min(start + share, r.end))
              for r in ranges for start in range(r.start, r.end, share)]
    groups: list[list[KafkaRange]] = [[] for _ in range(min(tasks, len(pieces)))]
    loads = [0] * len(groups)
    for piece in sorted(pieces, key=lambda p: (-p.size, p)):
        lightest = loads.index(min(loads))
        groups[lightest].append(piece)
        loads[lightest] += piece.size
    return [KafkaTask(sorted(g)) for g in groups]


def client_config(options: dict[str, str]) -> dict[str, str]:
    """librdkafka settings from `kafka.*` options."""
    config = {k[len("kafka."):]: v for k, v in options.items() if k.lower().startswith("kafka.")}
    if "bootstrap.servers" not in config:
        raise ValueError("the smartcity_kafka source needs the option kafka.bootstrap.servers")
    return config


class KafkaStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    def __init__(self, options: dict[str, str]):
        self.options = {k: v for k, v in options.items()}
        lowered = {k.lower(): v for k, v in options.items()}
        self.kafka = client_config(options)
        self.topics = [t.strip() for t in lowered.get("topics", "").split(",") if t.strip()]
        if not self.topics:
            raise ValueError("the smartcity_kafka source needs the option topics (comma separated)")
        self.starting = lowered.get("startingoffsets", "earliest").strip()
        max_offsets = lowered.get("maxoffsetspertrigger")
        self.max_offsets = int(max_offsets) if max_offsets else None
        self.tasks = int(lowered.get("tasksperbatch", 0) or 0)
        self.fail_on_data_loss = lowered.get("failondataloss", "true").lower() != "false"
        self.decode = _decodes(lowered)
        self.broker_wait_s = float(lowered.get("brokerwaits", STALL_TIMEOUT_S))
        self._target: dict[str, int] | None = None  # AvailableNow end offsets
        self._planner: Consumer | None = None
        self._admin = None
        self._inexact: set[str] = set()  # partitions whose end came from ListOffsets only (no fetch answer)

    def __getstate__(self):  # executors get the options, not the driver's consumer
        state = dict(self.__dict__)
        state["_planner"] = state["_admin"] = None
        return state

    # -- driver: planning -----------------------------------------------------------------------------

    def _consumer(self) -> Consumer:
        if self._planner is None:
            self._planner = Consumer({
                **self.kafka, "group.id": "smartcity-stream-planner", "enable.auto.commit": False,
                "enable.partition.eof": False, "max.partition.fetch.bytes": 1, "fetch.wait.max.ms": 10,
                "log_level": 3})
        return self._planner

    def _waiting(self, call, what: str):
        return waiting_for_broker(call, self.kafka["bootstrap.servers"], self.broker_wait_s, log, what)

    def topic_ids(self) -> dict[str, str]:
        """Kafka's id of each existing topic: a topic deleted and created again gets a new one."""
        return self._waiting(self._topic_ids, "reading topic ids")

    def _topic_ids(self) -> dict[str, str]:
        from confluent_kafka import TopicCollection
        from confluent_kafka.admin import AdminClient

        if self._admin is None:
            self._admin = AdminClient({**self.kafka, "log_level": 3})
        ids = {}
        described = self._admin.describe_topics(TopicCollection(self.topics), request_timeout=BROKER_CALL_TIMEOUT_S)
        for topic, future in described.items():
            try:
                ids[topic] = str(future.result().topic_id)
            except KafkaException as exc:
                if exc.args[0].code() not in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
                    raise  # the broker is away: the caller waits for it
        return ids

    def _partitions(self) -> list[TopicPartition]:
        metadata = self._consumer().list_topics(timeout=BROKER_CALL_TIMEOUT_S)
        out = []
        for topic in self.topics:
            t = metadata.topics.get(topic)
            if t is None or t.error is not None:
                continue  # not created yet: nothing to read
            out += [TopicPartition(topic, p) for p in sorted(t.partitions)]
        return out

    def watermarks(self) -> dict[str, tuple[int, int]]:
        """(earliest, end) offsets of every partition; end taken from a Fetch response (see module doc)."""
        return self._waiting(self._watermarks, "reading offsets")

    def _watermarks(self) -> dict[str, tuple[int, int]]:
        consumer = self._consumer()
        marks: dict[str, tuple[int, int]] = {}
        probes = []
        for tp in self._partitions():
            low, high = consumer.get_watermark_offsets(tp, timeout=BROKER_CALL_TIMEOUT_S, cached=False)
            marks[_key(tp.topic, tp.partition)] = (low, high)
            if high > low:  # fetch the last batch: its response carries the true high watermark
                probes.append(TopicPartition(tp.topic, tp.partition, high - 1))
        if probes:
            consumer.assign(probes)
            pending = {_key(tp.topic, tp.partition) for tp in probes}
            deadline = time.monotonic() + 30
            while pending and time.monotonic() < deadline:
                for msg in consumer.consume(num_messages=len(probes), timeout=0.2):
                    k = _key(msg.topic(), msg.partition())
                    if k in pending:
                        _, high = consumer.get_watermark_offsets(TopicPartition(msg.topic(), msg.partition()),
                                                                 cached=True)
                        low, listed = marks[k]
                        marks[k] = (low, max(listed, high))
                        pending.discard(k)
            consumer.unassign()
            self._inexact = pending
            if pending:
                log.warning("no fetch answer for %s within 30 s: using ListOffsets for their end", sorted(pending))
        return marks

    def _resolve_starting(self, marks: dict[str, tuple[int, int]]) -> dict[str, int]:
        if self.starting == "earliest":
            return {k: low for k, (low, _) in marks.items()}
        if self.starting == "latest":
            return {k: high for k, (_, high) in marks.items()}
        try:
            explicit = json.loads(self.starting)
        except json.JSONDecodeError:
            raise ValueError(f"startingOffsets must be earliest, latest or JSON, got {self.starting!r}") from None
        out = {}
        for k, (low, high) in marks.items():
            topic, partition = _split(k)
            wanted = int(explicit.get(topic, {}).get(str(partition), EARLIEST))
            out[k] = low if wanted == EARLIEST else high if wanted == LATEST else wanted
        return out

    def initialOffset(self) -> dict:
        return {"offsets": self._resolve_starting(self.watermarks()), "resets": {}, "topics": self.topic_ids()}

    def prepareForTriggerAvailableNow(self) -> None:
        self._target = {k: high for k, (_, high) in self.watermarks().items()}
        log.info("AvailableNow: reading up to %s", self._target)

    def getDefaultReadLimit(self) -> ReadLimit:
        return ReadMaxRows(self.max_offsets) if self.max_offsets else ReadAllAvailable()

    def reportLatestOffset(self) -> dict | None:
        return {"offsets": {k: high for k, (_, high) in self.watermarks().items()}, "resets": {}}

    def latestOffset(self, start: dict, limit: ReadLimit) -> dict:
        ids = self.topic_ids()
        marks = self.watermarks()
        recreated = {t for t, old in start.get("topics", {}).items() if t in ids and ids[t] != old}
        begin, resets = self._check_starts(start.get("offsets", {}), marks, recreated)
        ends = {k: high for k, (_, high) in marks.items()}
        if self._target is not None:
            ends = {k: min(end, self._target.get(k, begin.get(k, 0))) for k, end in ends.items()}
        ends = {k: max(end, begin[k]) for k, end in ends.items()}
        if isinstance(limit, ReadMaxRows):
            ends = cap_to_limit(begin, ends, limit.max_rows)
        return {"offsets": ends, "resets": {k: v for k, v in resets.items() if k in ends}, "topics": ids}

    def _check_starts(self, previous: dict[str, int], marks: dict[str, tuple[int, int]], recreated: set[str]
                      ) -> tuple[dict[str, int], dict[str, int]]:
        """Where each partition continues; partitions that do not continue from `previous` are resets."""
        begin, resets, lost = {}, {}, []
        for k, (low, high) in marks.items():
            if k not in previous:
                begin[k] = resets[k] = low  # a new partition (or topic): read it from the start
            elif _split(k)[0] in recreated:
                lost.append(f"{k}: checkpoint at offset {previous[k]}, but the topic was deleted and created "
                            f"again (new topic id); broker has {low}..{high}")
                begin[k] = resets[k] = low
            elif previous[k] > high and k in self._inexact:
                begin[k] = previous[k]  # ListOffsets may under-report the end: not evidence of loss
            elif previous[k] < low or previous[k] > high:
                lost.append(f"{k}: checkpoint at offset {previous[k]}, broker has {low}..{high}")
                begin[k] = resets[k] = low
            else:
                begin[k] = previous[k]
        gone = sorted(set(previous) - set(marks))
        lost += [f"{k}: checkpoint at offset {previous[k]}, partition no longer exists" for k in gone
                 if previous[k] > 0]
        if lost:
            what = ("Kafka offsets recorded in the checkpoint no longer exist (the broker deleted them, "
                    "or it restarted and lost its data):\n  " + "\n  ".join(lost))
            if self.fail_on_data_loss:
                raise DataLossError(what + "\nTo continue from the earliest offsets still available, "
                                    "restart with failOnDataLoss=false (smartcity stream --no-fail-on-data-loss); "
                                    "to start over, delete the checkpoint folder.")
            log.warning("%s\ncontinuing from the earliest available offsets (failOnDataLoss=false)", what)
        return begin, resets

    def partitions(self, start: dict, end: dict) -> list[KafkaTask]:
        previous, resets = start.get("offsets", {}), end.get("resets", {})
        ranges = []
        for k, until in sorted(end["offsets"].items()):
            begin = resets[k] if k in resets else previous.get(k, until)
            if until > begin:
                ranges.append(KafkaRange(*_split(k), begin, until))
        return spread(ranges, self.tasks)

    def commit(self, end: dict) -> None:
        pass  # offsets are kept in Spark's checkpoint, not in Kafka

    def stop(self) -> None:
        if self._planner is not None:
            self._planner.close()
            self._planner = None
        self._admin = None

    # -- executors: reading -------------------------------------------------------------------------

    def read(self, partition: KafkaTask) -> Iterator[pa.RecordBatch]:
        batches = read_ranges(self.kafka, partition.ranges, stall_timeout_s=self.broker_wait_s)
        if self.decode:  # parse on the executor, before the records enter the JVM
            from streaming.parse import parse_batches

            batches = parse_batches(batches)
        yield from batches


def cap_to_limit(begin: dict[str, int], ends: dict[str, int], max_rows: int) -> dict[str, int]:
    """Spread a per-trigger budget over partitions in proportion to what each has available."""
    available = {k: ends[k] - begin[k] for k in ends}
    total = sum(available.values())
    if total <= max_rows:
        return ends
    share = {k: a * max_rows / total for k, a in available.items()}
    take = {k: int(s) for k, s in share.items()}
    leftover = max_rows - sum(take.values())
    for k in sorted(share, key=lambda k: (take[k] - share[k], k))[:leftover]:
        take[k] += 1
    return {k: begin[k] + take[k] for k in ends}


def read_range(kafka: dict[str, str], topic: str, partition: int, start: int, end: int,
               stall_timeout_s: float = STALL_TIMEOUT_S) -> Iterator[pa.RecordBatch]:
    """Messages [start, end) of one partition as Arrow batches of KAFKA_RECORD (see `read_ranges`)."""
    return read_ranges(kafka, [KafkaRange(topic, partition, start, end)], stall_timeout_s)


def read_ranges(kafka: dict[str, str], ranges: Sequence[KafkaRange],
                stall_timeout_s: float = STALL_TIMEOUT_S) -> Iterator[pa.RecordBatch]:
    """The messages of `ranges` as Arrow batches of KAFKA_RECORD, read with one consumer: its partitions are
    fetched together and each is paused once its range is read. (Two ranges of one partition that do not meet
    are read in turn.)

    While no message arrives (the broker is away) the consumer keeps trying, logging "waiting for the
    Kafka broker" every 10 s, and fails the task after `stall_timeout_s`.
    """
    consumer = Consumer({**kafka, "group.id": "smartcity-stream", "enable.auto.commit": False,
                         "auto.offset.reset": "error", "enable.partition.eof": False, "log_level": 3})
    try:
        for turn in _turns(ranges):
            for msgs in _read_turn(consumer, kafka, turn, stall_timeout_s):
                yield _batch(msgs)
    finally:
        consumer.close()


def _turns(ranges: Sequence[KafkaRange]) -> list[list[KafkaRange]]:
    """Ranges that meet are joined; turn k holds the k-th remaining range of each partition."""
    by_partition: dict[tuple[str, int], list[KafkaRange]] = {}
    for r in sorted(ranges):
        joined = by_partition.setdefault((r.topic, r.partition), [])
        if joined and joined[-1].end == r.start:
            joined[-1] = KafkaRange(r.topic, r.partition, joined[-1].start, r.end)
        elif r.size > 0:
            joined.append(r)
    turns = max((len(v) for v in by_partition.values()), default=0)
    return [[v[k] for v in by_partition.values() if k < len(v)] for k in range(turns)]


def _read_turn(consumer: Consumer, kafka: dict[str, str], ranges: list[KafkaRange],
               stall_timeout_s: float) -> Iterator[list]:
    """Lists of messages (up to READ_BATCH_ROWS together) of ranges of distinct partitions, read together."""
    assigned = [TopicPartition(r.topic, r.partition, r.start) for r in ranges]
    consumer.assign(assigned)
    consumer.resume(assigned)  # a partition paused at the end of an earlier turn stays paused through assign()
    open_ = {(r.topic, r.partition): r for r in ranges}  # ranges not read to their end yet
    position = {k: r.start for k, r in open_.items()}
    parts: list[list] = []
    rows, last_progress, next_log = 0, time.monotonic(), 10.0
    while open_:
        # consume() waits for all the messages it asks for (or the timeout): ask for no more than are left
        left = sum(r.end - position[k] for k, r in open_.items())
        msgs = consumer.consume(num_messages=max(1, min(READ_BATCH_ROWS - rows, left)), timeout=1.0)
        done = []
        if msgs:
            last_progress, next_log = time.monotonic(), 10.0
            kept = []
            for m in msgs:
                key = (m.topic(), m.partition())
                if m.error() is not None:
                    r = open_.get(key) or ranges[0]
                    _raise_read_error(m.error(), r.topic, r.partition, position.get(key, r.start), r.end)
                r = open_.get(key)
                if r is None or not position[key] <= m.offset() < r.end:
                    continue  # never read past the planned end
                kept.append(m)
                position[key] = m.offset() + 1
                if position[key] >= r.end:
                    done.append(key)
            if kept:
                parts.append(kept)
                rows += len(kept)
        else:
            # compacted topics and transaction markers leave gaps: trust the consumer's position
            for key, r in open_.items():
                at = consumer.position([TopicPartition(r.topic, r.partition)])[0].offset
                position[key] = max(position[key], at)
                if position[key] >= r.end:
                    done.append(key)
            stalled = time.monotonic() - last_progress
            waiting = ", ".join(f"{r.topic}/{r.partition} {position[k]}..{r.end - 1}" for k, r in open_.items()
                                if k not in done)
            if waiting and stalled > stall_timeout_s:
                raise TimeoutError(f"no message for {stall_timeout_s:.0f} s while reading offsets {waiting}; is the "
                                   f"Kafka broker at {kafka['bootstrap.servers']} reachable? (SMARTCITY_BROKER_WAIT_S)")
            if waiting and stalled > next_log:
                log.warning("waiting for the Kafka broker at %s: no message for %.0f s (reading %s)",
                            kafka["bootstrap.servers"], stalled, waiting)
                next_log = stalled + 10
        if done:
            consumer.pause([TopicPartition(*key) for key in set(done)])
            for key in done:
                open_.pop(key, None)
        if rows >= READ_BATCH_ROWS or (not open_ and rows):
            yield [m for p in parts for m in p]
            parts, rows = [], 0


def _raise_read_error(error: KafkaError, topic: str, partition: int, position: int, end: int) -> None:
    if error.code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE):
        raise DataLossError(f"{topic}/{partition}: offsets {position}..{end - 1} are no longer available "
                            f"in Kafka ({error.str()})")
    raise KafkaException(error)


def _batch(msgs: list) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([
        pa.array([m.topic() for m in msgs], pa.string()),
        pa.array([m.partition() for m in msgs], pa.int32()),
        pa.array([m.offset() for m in msgs], pa.int64()),
        pa.array([m.timestamp()[1] for m in msgs], pa.int64()).cast(pa.timestamp("ms", tz="UTC")).cast(
            KAFKA_RECORD.field("timestamp").type),
        pa.array([m.key() for m in msgs], pa.binary()),
        pa.array([m.value() for m in msgs], pa.binary()),
    ], schema=KAFKA_RECORD)
