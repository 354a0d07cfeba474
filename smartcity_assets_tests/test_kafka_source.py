"""The Kafka source's planning and reading, against the real embedded broker (driver side, no Spark)."""

from __future__ import annotations

import logging
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadMaxRows

from smartcity.kafka import ensure_topics
from streaming.kafka_source import (
    DataLossError,
    KafkaRange,
    KafkaStreamReader,
    cap_to_limit,
    read_range,
    read_ranges,
    spread,
)


@pytest.fixture
def topic(live_stack):
    name = f"test.source.{uuid.uuid4().hex[:8]}"
    ensure_topics(live_stack, [name], partitions=3)
    return name


def produce(settings, topic, counts: dict[int, int], batches: int = 2) -> None:
    """`counts[p]` messages into partition p, in `batches` separate producer batches (flushes)."""
    producer = Producer({**settings.kafka_config(), "linger.ms": 50})
    for b in range(batches):
        for p, n in counts.items():
            for i in range(b * n // batches, (b + 1) * n // batches):
                producer.produce(topic, f"m{i}".encode(), f"k{p}".encode(), partition=p)
        producer.flush()


def reader_for(settings, topic, **options) -> KafkaStreamReader:
    opts = {f"kafka.{k}": v for k, v in settings.kafka_config().items()}
    return KafkaStreamReader({**opts, "topics": topic, **options})


def planned(reader, start, end) -> list:
    """The offset ranges of a micro-batch's tasks, all together."""
    return [r for task in reader.partitions(start, end) for r in task.ranges]


def offsets_of(ranges) -> list[tuple]:
    return sorted((r.topic, r.partition, o) for r in ranges for o in range(r.start, r.end))


def test_plans_one_range_per_partition_up_to_the_true_end(live_stack, topic):
    produce(live_stack, topic, {0: 500, 1: 30, 2: 0})
    reader = reader_for(live_stack, topic)
    start = reader.initialOffset()
    assert start["offsets"] == {f"{topic}/0": 0, f"{topic}/1": 0, f"{topic}/2": 0}
    end = reader.latestOffset(start, ReadAllAvailable())
    assert end["offsets"] == {f"{topic}/0": 500, f"{topic}/1": 30, f"{topic}/2": 0}
    tasks = reader.partitions(start, end)
    assert [[(r.topic, r.partition, r.start, r.end) for r in t.ranges] for t in tasks] == [
        [(topic, 0, 0, 500)], [(topic, 1, 0, 30)]]  # by default a task per partition, as Spark's kafka source
    # the next batch starts where this one ended and has nothing to read
    assert reader.partitions(end, reader.latestOffset(end, ReadAllAvailable())) == []
    reader.stop()


def test_the_tail_of_a_partition_is_never_left_unread(live_stack, topic):
    """ListOffsets answers the last batch's base offset + 1 here; the planner must not trust it."""
    produce(live_stack, topic, {0: 300}, batches=3)
    consumer = Consumer({**live_stack.kafka_config(), "group.id": "t"})
    _, listed = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
    consumer.close()
    assert listed < 300  # the broker quirk this test is about
    reader = reader_for(live_stack, topic)
    assert reader.watermarks()[f"{topic}/0"] == (0, 300)
    reader.stop()


def test_read_limit_is_spread_over_partitions_and_respected(live_stack, topic):
    produce(live_stack, topic, {0: 900, 1: 90, 2: 10})
    reader = reader_for(live_stack, topic, maxOffsetsPerTrigger="100")
    assert reader.getDefaultReadLimit() == ReadMaxRows(100)
    start = reader.initialOffset()
    seen = {p: 0 for p in range(3)}
    batches = 0
    while True:
        end = reader.latestOffset(start, reader.getDefaultReadLimit())
        ranges = planned(reader, start, end)
        if not ranges:
            break
        assert sum(r.end - r.start for r in ranges) <= 100
        for r in ranges:
            assert r.start == seen[r.partition]
            seen[r.partition] = r.end
        start, batches = end, batches + 1
    assert seen == {0: 900, 1: 90, 2: 10} and batches == 10
    # ReadAllAvailable overrides the configured limit (as Spark requires)
    assert reader.latestOffset(reader.initialOffset(), ReadAllAvailable())["offsets"][f"{topic}/0"] == 900
    reader.stop()


def test_cap_to_limit_is_proportional_and_exact():
    begin = {"a": 0, "b": 10, "c": 5}
    ends = {"a": 700, "b": 310, "c": 5}
    capped = cap_to_limit(begin, ends, 100)
    taken = {k: capped[k] - begin[k] for k in begin}
    assert sum(taken.values()) == 100 and taken == {"a": 70, "b": 30, "c": 0}
    assert cap_to_limit(begin, ends, 10_000) == ends


def test_available_now_stops_at_the_offsets_of_its_start(live_stack, topic):
    produce(live_stack, topic, {0: 100, 1: 100})
    reader = reader_for(live_stack, topic)
    start = reader.initialOffset()
    reader.prepareForTriggerAvailableNow()
    produce(live_stack, topic, {0: 50, 1: 50, 2: 50})  # arrives after the query started
    end = reader.latestOffset(start, ReadAllAvailable())
    assert end["offsets"] == {f"{topic}/0": 100, f"{topic}/1": 100, f"{topic}/2": 0}
    reader.stop()


def test_starting_offsets_latest_and_explicit(live_stack, topic):
    produce(live_stack, topic, {0: 40, 1: 40})
    for option, expected in [("latest", {0: 40, 1: 40, 2: 0}), ("earliest", {0: 0, 1: 0, 2: 0}),
                             (f'{{"{topic}": {{"0": 7, "1": -1}}}}', {0: 7, 1: 40, 2: 0})]:
        reader = reader_for(live_stack, topic, startingOffsets=option)
        assert reader.initialOffset()["offsets"] == {f"{topic}/{p}": o for p, o in expected.items()}
        reader.stop()


def test_vanished_offsets_fail_clearly_or_continue_from_earliest(live_stack, topic, caplog):
    produce(live_stack, topic, {0: 20})
    checkpointed = {"offsets": {f"{topic}/0": 5000, f"{topic}/1": 0, f"{topic}/2": 0}}  # beyond the end
    strict = reader_for(live_stack, topic)
    with pytest.raises(DataLossError, match=r"(?s)no longer exist.*checkpoint at offset 5000, broker has 0\.\.20"
                                            r".*failOnDataLoss=false"):
        strict.latestOffset(checkpointed, ReadAllAvailable())
    strict.stop()
    lenient = reader_for(live_stack, topic, failOnDataLoss="false")
    with caplog.at_level(logging.WARNING, logger="smartcity.streaming.kafka_source"):
        end = lenient.latestOffset(checkpointed, ReadAllAvailable())
    assert "continuing from the earliest available offsets" in caplog.text
    assert end["resets"] == {f"{topic}/0": 0}
    assert [(r.start, r.end) for r in planned(lenient, checkpointed, end)] == [(0, 20)]
    lenient.stop()


def test_a_recreated_topic_is_data_loss_even_when_offsets_still_fit(live_stack, topic):
    """An in-memory broker that restarted may already hold as many messages as before: the topic id tells."""
    produce(live_stack, topic, {0: 20})
    reader = reader_for(live_stack, topic)
    checkpointed = {"offsets": {f"{topic}/{p}": 0 for p in range(3)}, "topics": {topic: "AAAAAAAAAAAAAAAAAAAAAA"}}
    with pytest.raises(DataLossError, match="deleted and created again"):
        reader.latestOffset(checkpointed, ReadAllAvailable())
    same = {**checkpointed, "topics": reader.topic_ids()}
    assert reader.latestOffset(same, ReadAllAvailable())["offsets"][f"{topic}/0"] == 20
    reader.stop()


def test_read_range_reads_exactly_the_planned_offsets(live_stack, topic):
    produce(live_stack, topic, {1: 1000})
    batches = list(read_range(live_stack.kafka_config(), topic, 1, 123, 877))
    offsets = [o for b in batches for o in b.column("offset").to_pylist()]
    assert offsets == list(range(123, 877))
    values = [v for b in batches for v in b.column("value").to_pylist()]
    assert values[0] == b"m123" and values[-1] == b"m876"
    assert {k for b in batches for k in b.column("key").to_pylist()} == {b"k1"}


def test_tasks_per_batch_spreads_the_ranges_evenly_over_that_many_tasks(live_stack, topic):
    produce(live_stack, topic, {0: 700, 1: 250, 2: 50})
    reader = reader_for(live_stack, topic, tasksPerBatch="2")
    start = reader.initialOffset()
    end = reader.latestOffset(start, ReadAllAvailable())
    tasks = reader.partitions(start, end)
    assert len(tasks) == 2
    assert offsets_of(r for t in tasks for r in t.ranges) == [(topic, p, o) for p, n in ((0, 700), (1, 250), (2, 50))
                                                             for o in range(n)]
    assert sorted(sum(r.end - r.start for r in t.ranges) for t in tasks) == [500, 500]
    reader.stop()


@pytest.mark.parametrize("tasks", [1, 2, 3, 4, 7, 40])
def test_spread_covers_every_offset_once_in_balanced_tasks(tasks):
    ranges = [KafkaRange("a", 0, 10, 1010), KafkaRange("a", 1, 0, 3), KafkaRange("b", 0, 500, 520),
              KafkaRange("b", 2, 7, 300), KafkaRange("c", 0, 0, 1)]
    got = spread(ranges, tasks)
    assert offsets_of(r for t in got for r in t.ranges) == offsets_of(ranges)
    assert len(got) == min(tasks, sum(r.end - r.start for r in ranges))
    loads = [sum(r.end - r.start for r in t.ranges) for t in got]
    share = -(-sum(loads) // tasks)
    assert max(loads) - min(loads) <= share  # no task holds more than one share above another


def test_spread_without_a_task_count_keeps_a_task_per_range():
    ranges = [KafkaRange("a", 0, 0, 5), KafkaRange("a", 1, 3, 4)]
    assert [t.ranges for t in spread(ranges, 0)] == [(ranges[0],), (ranges[1],)]


def test_one_consumer_reads_several_ranges_exactly(live_stack, topic):
    """Ranges of three partitions, two of them in one partition that do not meet, and two that do."""
    produce(live_stack, topic, {0: 400, 1: 300, 2: 200})
    ranges = [KafkaRange(topic, 0, 10, 50), KafkaRange(topic, 0, 300, 400), KafkaRange(topic, 1, 0, 120),
              KafkaRange(topic, 1, 120, 121), KafkaRange(topic, 2, 199, 200)]
    batches = list(read_ranges(live_stack.kafka_config(), ranges, stall_timeout_s=30))
    got = sorted((t, p, o) for b in batches for t, p, o in zip(b.column("topic").to_pylist(),
                                                                 b.column("partition").to_pylist(),
                                                                 b.column("offset").to_pylist()))
    assert got == offsets_of(ranges)
    values = {(p, o): v for b in batches for p, o, v in zip(b.column("partition").to_pylist(),
                                                          b.column("offset").to_pylist(),
                                                          b.column("value").to_pylist())}
    assert values[(0, 300)] == b"m300" and values[(2, 199)] == b"m199"
