"""`smartcity simulate`: drive the World and produce its events to Kafka.

`EventStream` turns simulated seconds into encoded Kafka messages (with the requested late and malformed
ones) and knows nothing about Kafka, so tests can inspect exactly what would be sent. `run_simulation`
paces the stream (events per second and/or simulated speed), produces it with an idempotent producer,
shows progress and returns per-topic statistics.

A broker outage mid-run loses nothing: the producer keeps each message and retries it for
SMARTCITY_KAFKA_DELIVERY_TIMEOUT_S. Messages the broker did not acknowledge by then are counted as
failed per topic (and `smartcity simulate` exits with code 1), never dropped silently.

No event time ahead of the wall clock: the platform quarantines events more than MAX_CLOCK_SKEW (5 min) ahead
of their ingest time. A run without --start paced at real time or slower (`smartcity up`: --speed 1) starts
now; a faster one (--speed above 1, or 0 = as fast as possible) starts far enough back that its simulated span
ends by now (`default_start`: its --city-seconds, --duration x --speed, or its events at the fewest events a
simulated second of this fleet has, the night's; an hour back when nothing bounds it), and should it still
reach the wall clock it goes on at real time from there. An explicit --start is honoured as given; once the
simulated clock passes the wall clock by more than the skew, the run logs a warning (those events will be
quarantined).
"""

from __future__ import annotations

import logging
import math
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import orjson
from tqdm import tqdm

from smartcity import contracts
from smartcity.contracts.event_time import FIRST_EVENT_TIME, MAX_CLOCK_SKEW
from smartcity.errors import ConfigError
from smartcity.kafka import check_broker, ensure_topics, make_producer
from smartcity.settings import Settings
from smartcity.simulator.faults import MALFORMED_KINDS, LateBuffer, MalformedInjector
from smartcity.simulator.world import World

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulationConfig:
    events: int | None = None  # stop after generating this many events ...
    duration_s: float | None = None  # ... or after this many wall-clock seconds
    city_seconds: int | None = None  # ... or before the simulated clock reaches start + this many seconds
    rate: float = 0.0  # events per wall-clock second; 0 = as fast as possible
    speed: float = 0.0  # simulated seconds per wall-clock second; 0 = not tied to the wall clock
    start: datetime | None = None  # simulated start time (UTC); default: `default_start`
    seed: int = 42
    vehicles: int = 2000
    car_gps_every_s: int = 5  # cars and trucks: a GPS fix every this many seconds, telemetry at twice it
    fleet_gps_every_s: int = 5  # the same for buses and emergency units
    late_share: float = 0.0
    max_lateness_s: int = 900
    malformed_share: float = 0.0
    malformed_kinds: tuple[str, ...] = MALFORMED_KINDS
    partitions: int | None = None  # topic partitions when creating topics; default from settings
    progress: bool = True

    def __post_init__(self) -> None:
        problems = []
        if self.events is None and self.duration_s is None and self.city_seconds is None:
            problems.append("give --events or --duration (or both)")
        if self.city_seconds is not None and self.city_seconds < 1:
            problems.append("the simulated time must be at least 1 second")
        if self.events is not None and self.events < 1:
            problems.append("--events must be at least 1")
        if self.duration_s is not None and self.duration_s <= 0:
            problems.append("--duration must be positive")
        if self.rate < 0 or self.speed < 0:
            problems.append("--rate and --speed must be >= 0 (0 = as fast as possible)")
        for name in ("late_share", "malformed_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"--{name.replace('_', '-')} must be between 0 and 1")
        if self.max_lateness_s < 30:
            problems.append("--max-lateness must be at least 30 seconds")
        if min(self.car_gps_every_s, self.fleet_gps_every_s) < 5:
            problems.append("--car-gps-every and --fleet-gps-every must be at least 5 seconds (the full rate)")
        if self.vehicles < 10:
            problems.append("--vehicles must be at least 10")
        unknown = set(self.malformed_kinds) - set(MALFORMED_KINDS)
        if unknown or not self.malformed_kinds:
            problems.append(f"--malformed-kinds must be among {', '.join(MALFORMED_KINDS)}")
        if self.partitions is not None and self.partitions < 1:
            problems.append("--partitions must be at least 1")
        if self.start is not None and self.start.tzinfo is None:
            problems.append("--start must carry a timezone, e.g. 2026-11-29T08:00:00Z")
        if problems:
            raise ConfigError("; ".join(problems))


@dataclass(frozen=True)
class Message:
    topic: str
    key: bytes
    value: bytes
    late: bool = False
    malformed: str | None = None  # kind of corruption, None for a valid event
    expected_reason: str | None = None  # what validation must say about a malformed message


# The fewest events one simulated second of the city has, per report (GPS fix or telemetry) its whole fleet
# would make in that second at its slowest GPS interval: at night (02:00) most vehicles are parked; measured
# 0.17 for 2,000 vehicles, more for smaller fleets (the cameras and weather stations report regardless).
FEWEST_EVENTS_PER_REPORT = 0.15
UNBOUNDED_LOOKBACK = timedelta(hours=1)  # where a faster-than-real-time run with no bound starts: an hour back


def faster_than_real_time(config: SimulationConfig) -> bool:
    return config.speed == 0 or config.speed > 1


def simulated_span_s(config: SimulationConfig) -> float | None:
    """At most how many simulated seconds the run covers, as far as its bounds tell; None when nothing bounds
    it (e.g. --duration inf, or --duration at --speed 0 without a --rate)."""
    spans, events = [], config.events
    if config.city_seconds is not None:
        spans.append(config.city_seconds)
    if config.duration_s is not None and math.isfinite(config.duration_s):
        if config.speed > 0:
            spans.append(config.speed * config.duration_s + 1)
        if config.rate > 0:
            events = min(events or math.inf, config.rate * config.duration_s + 1)
    if events is not None:
        reports = config.vehicles * 1.5 / max(config.car_gps_every_s, config.fleet_gps_every_s)  # GPS + telemetry
        spans.append(events / (reports * FEWEST_EVENTS_PER_REPORT))
    return min(spans) if spans else None


def default_start(config: SimulationConfig, now: datetime | None = None) -> datetime:
    """Where a run without --start begins: now for a run paced at real time or slower; for a faster one, far
    enough back that its simulated span ends by now (never before the platform's first event time)."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    if not faster_than_real_time(config):
        return now
    span = simulated_span_s(config)
    back = UNBOUNDED_LOOKBACK if span is None else timedelta(seconds=math.ceil(span) + 1)
    return max(now - back, FIRST_EVENT_TIME)


class EventStream:
    """Simulated seconds in, Kafka messages out (deterministic for a seed and a given start)."""

    def __init__(self, config: SimulationConfig, world: World | None = None):
        self.world = world or World(seed=config.seed, vehicles=config.vehicles,
                                    start=config.start or default_start(config), replay=config.start is not None,
                                    car_gps_every_s=config.car_gps_every_s,
                                    fleet_gps_every_s=config.fleet_gps_every_s)
        self.malformed = MalformedInjector(config.malformed_share, tuple(config.malformed_kinds))
        self.late = LateBuffer(config.late_share, 30, config.max_lateness_s, random.Random(config.seed + 1))
        self.generated = 0

    def tick(self, budget: int | None = None) -> list[Message]:
        """Advance one simulated second; at most `budget` newly generated events (held ones excluded)."""
        events = self.world.step()
        if budget is not None:
            events = events[:budget]
        self.generated += len(events)
        now = self.world.tick
        out = []
        for contract, record in events:
            late = self.late.choose()
            msg = self._encode(contract, record, late)
            if late:
                self.late.hold(now, msg)
            else:
                out.append(msg)
        out.extend(self.late.due(now))
        return out

    def drain(self) -> list[Message]:
        """Held-back late messages still waiting: sent when the run ends."""
        return self.late.drain()

    def _encode(self, contract: contracts.EventContract, record: dict, late: bool) -> Message:
        key = record[contract.key].encode()
        bad = self.malformed.maybe_corrupt(contract, record)
        if bad is None:
            return Message(contract.topic, key, orjson.dumps(record), late)
        return Message(contract.topic, key, bad.payload, late, bad.kind, bad.expected_reason)


@dataclass
class TopicStats:
    sent: int = 0  # acknowledged by the broker
    failed: int = 0  # delivery failed (error from the broker, or still queued at exit)
    late: int = 0
    malformed: Counter = field(default_factory=Counter)


@dataclass
class SimulationReport:
    topics: dict[str, TopicStats]
    seconds: float
    simulated_seconds: int
    start: datetime
    end: datetime

    @property
    def sent(self) -> int:
        return sum(s.sent for s in self.topics.values())

    @property
    def failed(self) -> int:
        return sum(s.failed for s in self.topics.values())

    @property
    def events_per_second(self) -> float:
        return (self.sent + self.failed) / self.seconds if self.seconds else 0.0


def run_simulation(settings: Settings, config: SimulationConfig) -> SimulationReport:
    check_broker(settings)
    topics = [c.topic for c in contracts.CONTRACTS]
    ensure_topics(settings, topics, config.partitions)
    stats = {t: TopicStats() for t in topics}
    attempted: Counter = Counter()

    def on_delivery_error(err, msg) -> None:  # called only for failed deliveries
        stats[msg.topic()].failed += 1
        if stats[msg.topic()].failed <= 3:
            log.error("delivery to %s failed: %s", msg.topic(), err.str())

    producer = make_producer(settings, on_delivery_error)
    stream = EventStream(config)
    bar = tqdm(total=config.events, unit="ev", desc="simulate", disable=not config.progress,
               file=sys.stderr, mininterval=0.5, smoothing=0.1)
    started = time.monotonic()
    produced = 0
    # a run that picked its own start never gets ahead of the wall clock; one given --start is only warned
    hold_to_wall_clock, warned = config.start is None, False

    def produce(batch: list[Message]) -> None:
        nonlocal produced
        for m in batch:
            while True:
                try:
                    producer.produce(m.topic, m.value, m.key)
                    break
                except BufferError:  # local queue full: let librdkafka drain it, then retry
                    producer.poll(0.05)
            attempted[m.topic] += 1
            if m.late:
                stats[m.topic].late += 1
            if m.malformed:
                stats[m.topic].malformed[m.malformed] += 1
        producer.poll(0)
        produced += len(batch)
        bar.update(len(batch))

    try:
        while True:
            elapsed = time.monotonic() - started
            if config.duration_s is not None and elapsed >= config.duration_s:
                break
            budget = None if config.events is None else config.events - stream.generated
            if budget is not None and budget <= 0:
                break
            if config.city_seconds is not None and stream.world.tick + 1 >= config.city_seconds:  # ends before it
                break
            if stream.world.tick % 900 == 0:  # every 15 minutes of city time
                bar.set_postfix_str(f"city time {stream.world.sim_time:%H:%M}", refresh=False)
            batch = stream.tick(budget)
            _pace(started, stream.world.tick, produced + len(batch), config)
            ahead = seconds_ahead(stream.world.sim_time)
            if hold_to_wall_clock and ahead > 0:
                if not warned and faster_than_real_time(config):
                    log.info("the simulated clock reached the wall clock (%s UTC): going on at real time",
                             f"{stream.world.sim_time:%H:%M:%S}")
                    warned = True
                time.sleep(ahead)
            elif not hold_to_wall_clock and not warned and ahead > MAX_CLOCK_SKEW.total_seconds():
                log.warning(ahead_warning(stream.world.sim_time))
                warned = True
            produce(batch)
        produce(stream.drain())
        # every message is delivered or failed by librdkafka within the delivery timeout; the margin
        # covers the last ones handed over just now
        wait_s = settings.kafka_delivery_timeout_s + 10
        remaining = producer.flush(wait_s)
        if remaining:
            log.error("%d messages still undelivered after %.0f s; purging them as failed", remaining, wait_s)
            producer.purge()
            producer.flush(5)
    except KeyboardInterrupt:
        log.warning("interrupted: flushing what was produced")
        producer.flush(10)
    finally:
        bar.close()
    seconds = time.monotonic() - started
    for topic, s in stats.items():
        s.sent = attempted[topic] - s.failed
    world = stream.world
    return SimulationReport(stats, seconds, world.tick, world.start, world.sim_time)


def seconds_ahead(sim_time: datetime, now: datetime | None = None) -> float:
    """How far the end of the current simulated second (its events are stamped within it) is ahead of now."""
    return (sim_time + timedelta(seconds=1) - (now or datetime.now(timezone.utc))).total_seconds()


def ahead_warning(sim_time: datetime) -> str:
    return (f"the simulated clock ({sim_time:%Y-%m-%d %H:%M:%S} UTC) is more than {MAX_CLOCK_SKEW} ahead of the "
            "wall clock: the platform quarantines these events (out_of_window:event_time); give an earlier --start "
            "or none (a run without one never gets ahead)")


def _pace(started: float, sim_tick: int, produced: int, config: SimulationConfig) -> None:
    """Sleep until both the simulated clock and the event rate allow the next batch."""
    wait = 0.0
    if config.speed > 0:
        wait = max(wait, sim_tick / config.speed - (time.monotonic() - started))
    if config.rate > 0:
        wait = max(wait, produced / config.rate - (time.monotonic() - started))
    if wait > 0:
        time.sleep(wait)


def format_report(report: SimulationReport) -> str:
    from smartcity.console import table

    rows = []
    for topic, s in report.topics.items():
        malformed = ", ".join(f"{k} {v}" for k, v in sorted(s.malformed.items())) or "-"
        rows.append([topic, s.sent, s.failed, s.late, sum(s.malformed.values()), malformed])
    rows.append(["total", report.sent, report.failed, sum(s.late for s in report.topics.values()),
                 sum(sum(s.malformed.values()) for s in report.topics.values()), ""])
    head = (f"simulated {report.start:%Y-%m-%d %H:%M:%S} -> {report.end:%H:%M:%S} UTC "
            f"({report.simulated_seconds} s of city time) in {report.seconds:.1f} s wall time, "
            f"{report.events_per_second:,.0f} events/s")
    text = head + "\n" + table(["topic", "sent", "failed", "late", "malformed", "malformed by kind"], rows)
    if report.failed:
        text += (f"\n{report.failed:,} messages were not acknowledged by the broker within the delivery timeout "
                 "(SMARTCITY_KAFKA_DELIVERY_TIMEOUT_S): they may be missing from Kafka (or present, if the broker "
                 "wrote them without answering in time). Check the broker and run again: the transformed tables "
                 "de-duplicate on event_id.")
    return text
