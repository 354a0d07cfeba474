"""Simulator throughput (events/s, all five topics, as fast as possible) beside a bare producer.

The baseline is a bare confluent-kafka producer sending pre-built messages of the same sizes to the same
topics with the same producer settings: the cost of Kafka alone. Both run against a private embedded
broker started for this run, a few rounds each, alternating.

    .venv/bin/python bench/simulator_throughput.py [--events 500000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime, timezone

from smartcity import contracts
from smartcity_commands import stack
from smartcity.kafka import ensure_topics, make_producer
from smartcity.settings import load_settings
from smartcity.simulator.run import EventStream, SimulationConfig, run_simulation
from smartcity_commands.stack import free_port


def bare_producer(settings, messages) -> float:
    failed = []
    producer = make_producer(settings, lambda err, msg: failed.append(err))
    started = time.perf_counter()
    for topic, key, value in messages:
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    producer.flush(60)
    seconds = time.perf_counter() - started
    assert not failed, failed[:3]
    return len(messages) / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home:
        settings = load_settings(home=home, broker_port=free_port(), postgres_port=free_port(),
                                 kafka_bootstrap_servers=None)
        broker = stack.Broker()
        state = broker.start(settings)  # only the broker is needed
        try:
            ensure_topics(settings, [c.topic for c in contracts.CONTRACTS])
            config = SimulationConfig(events=args.events, speed=0.0, progress=False,
                                      start=datetime(2026, 11, 30, 8, tzinfo=timezone.utc))
            # Same topics, keys and payload sizes as the simulator sends, built before timing starts.
            stream = EventStream(config)
            sample = []
            while stream.generated < args.events:
                sample.extend(stream.tick(args.events - stream.generated))
            messages = [(m.topic, m.key, b"x" * len(m.value)) for m in sample]
            mean_size = sum(len(m[2]) for m in messages) / len(messages)

            sim, bare = [], []
            for r in range(args.rounds):
                bare.append(bare_producer(settings, messages))
                report = run_simulation(settings, config)
                assert report.failed == 0
                sim.append(report.events_per_second)
                print(f"round {r + 1}: simulator {sim[-1]:>9,.0f} ev/s   bare producer {bare[-1]:>9,.0f} msg/s")
            best_sim, best_bare = max(sim), max(bare)
            print(f"\n{args.events:,} events per run, mean message {mean_size:.0f} bytes, 2-core machine")
            print(f"simulator (generate + encode + produce): {best_sim:>9,.0f} events/s (best of {args.rounds})")
            print(f"bare confluent-kafka producer baseline:  {best_bare:>9,.0f} msg/s    (best of {args.rounds})")
            print(f"ratio simulator / baseline:              {best_sim / best_bare:>9.2f}")
        finally:
            broker.stop(settings, state)


if __name__ == "__main__":
    main()
