"""Kafka plumbing shared by the simulator, the stack health check and the tests (confluent-kafka)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from smartcity import names
from smartcity.errors import BrokerUnavailable
from smartcity.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

# errors that mean "the broker cannot be reached right now", not "the request is wrong"
_UNREACHABLE = {KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE,
                KafkaError.NETWORK_EXCEPTION, KafkaError.REQUEST_TIMED_OUT, KafkaError.BROKER_NOT_AVAILABLE,
                KafkaError.LEADER_NOT_AVAILABLE, KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError._WAIT_COORD}


def admin_client(settings: Settings) -> AdminClient:
    # log_level 0: connection failures are reported by check_broker, not as librdkafka log lines
    return AdminClient({**settings.kafka_config(), "socket.connection.setup.timeout.ms": 3000, "log_level": 0})


def check_broker(settings: Settings, timeout_s: float = 5.0) -> None:
    """Raise `BrokerUnavailable` with a message saying what to do when the broker cannot be reached."""
    try:
        admin_client(settings).list_topics(timeout=timeout_s)
    except KafkaException as exc:
        hint = ("start the embedded stack with `smartcity stack up`" if settings.uses_embedded_broker
                else "check SMARTCITY_KAFKA_BOOTSTRAP_SERVERS and the broker's security settings")
        raise BrokerUnavailable(
            f"cannot reach the Kafka broker at {settings.bootstrap_servers} within {timeout_s:.0f}s "
            f"({exc.args[0].str() if exc.args and isinstance(exc.args[0], KafkaError) else exc}); {hint}"
        ) from None


def broker_unreachable(exc: BaseException) -> bool:
    if isinstance(exc, BrokerUnavailable):
        return True
    error = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    return isinstance(error, KafkaError) and error.code() in _UNREACHABLE


def waiting_for_broker(call: Callable[[], T], servers: str, wait_s: float, logger: logging.Logger, what: str) -> T:
    """Run `call` (requests to the broker); while the broker cannot be reached, log and try again.

    Logs "waiting for the Kafka broker at ..." at once and then every 10 s; gives up after `wait_s` with a
    `BrokerUnavailable` naming the broker and the setting to change.
    """
    started, next_log, waited = time.monotonic(), 0.0, 0.0
    while True:
        try:
            result = call()
        except (KafkaException, BrokerUnavailable) as exc:
            if not broker_unreachable(exc):
                raise
            waited = time.monotonic() - started
            reason = exc.args[0].str() if isinstance(exc, KafkaException) and exc.args and isinstance(
                exc.args[0], KafkaError) else str(exc)
            if waited >= wait_s:
                raise BrokerUnavailable(
                    f"the Kafka broker at {servers} could not be reached for {waited:.0f} s while {what} ({reason}); "
                    "start it, or set SMARTCITY_BROKER_WAIT_S to wait longer") from None
            if waited >= next_log:
                logger.warning("waiting for the Kafka broker at %s (%s: %s); trying again for up to %.0f s",
                               servers, what, reason, wait_s - waited)
                next_log = waited + 10
            time.sleep(min(2.0, max(0.0, wait_s - waited)))
            continue
        if waited:
            logger.warning("the Kafka broker at %s answers again (%s) after %.0f s", servers, what,
                           time.monotonic() - started)
        return result


def ensure_topics(settings: Settings, topics: Iterable[str], partitions: int | None = None) -> None:
    """Create the topics that do not exist yet (existing topics are left as they are)."""
    topics = [names.topic(t) for t in topics]
    admin = admin_client(settings)
    existing = set(admin.list_topics(timeout=10).topics)
    missing = [t for t in topics if t not in existing]
    if not missing:
        return
    n = partitions or settings.topic_partitions
    futures = admin.create_topics([NewTopic(t, num_partitions=n, replication_factor=1) for t in missing],
                                  operation_timeout=10)
    for topic, future in futures.items():
        try:
            future.result()
            log.info("created topic %s with %d partitions", topic, n)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    _wait_for_metadata(admin, missing)


def _wait_for_metadata(admin: AdminClient, topics: list[str], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        metadata = admin.list_topics(timeout=5).topics
        if all(t in metadata and metadata[t].partitions for t in topics):
            return
        time.sleep(0.1)
    raise BrokerUnavailable(f"topics {topics} were created but never appeared in the broker's metadata")


def make_producer(settings: Settings, on_delivery_error) -> Producer:
    """Idempotent producer tuned for throughput; only failed deliveries call back."""
    return Producer({
        **settings.kafka_config(),
        "enable.idempotence": True,
        "linger.ms": 20,
        "batch.num.messages": 10000,
        "batch.size": 1_000_000,
        "queue.buffering.max.messages": 500_000,
        "queue.buffering.max.kbytes": 512 * 1024,
        "delivery.report.only.error": True,
        # librdkafka retries each message (broker down, leader change) until this timeout, then reports it
        "message.timeout.ms": int(settings.kafka_delivery_timeout_s * 1000),
        "on_delivery": on_delivery_error,
        "error_cb": lambda err: log.warning("kafka producer: %s", err.str()),
    })


def partitions_of(settings: Settings, topic: str) -> list[int]:
    names.topic(topic)
    metadata = admin_client(settings).list_topics(topic, timeout=10).topics.get(topic)
    if metadata is None or metadata.error is not None:
        return []
    return sorted(metadata.partitions)


def read_topic(settings: Settings, topic: str, idle_timeout_s: float = 3.0) -> Iterator[Message]:
    """Every message currently in a topic, from the earliest offset (assign/seek, no consumer group).

    Stops when every partition has been read up to the high watermark carried in fetch responses
    (ListOffsets is not trusted: the embedded broker answers the last batch's base offset + 1) and no
    message arrived for `idle_timeout_s`.
    """
    parts = [TopicPartition(topic, p, -2) for p in partitions_of(settings, topic)]  # -2 = earliest
    if not parts:
        return
    consumer = Consumer({**settings.kafka_config(), "group.id": "smartcity-reader",
                         "enable.auto.commit": False, "enable.partition.eof": False})
    try:
        consumer.assign(parts)
        idle_since = time.monotonic()
        while True:
            batch = consumer.consume(num_messages=10_000, timeout=0.5)
            for msg in batch:
                if msg.error() is None:
                    yield msg
                else:
                    raise KafkaException(msg.error())
            if batch:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= idle_timeout_s and _caught_up(consumer, parts):
                return
    finally:
        consumer.close()


def _caught_up(consumer: Consumer, parts: list[TopicPartition]) -> bool:
    positions = consumer.position(parts)
    for tp in positions:
        _, high = consumer.get_watermark_offsets(tp, cached=True)
        if high > 0 and tp.offset < high:
            return False
    return True
