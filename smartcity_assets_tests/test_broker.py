"""Against the real embedded broker: what the simulator produces is exactly what a consumer reads back."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

from smartcity import contracts
from smartcity.kafka import partitions_of, read_topic
from smartcity.simulator.run import SimulationConfig, run_simulation

from .helpers import expected_messages


def test_produce_and_consume_back_all_topics(broker_only):
    config = SimulationConfig(events=30_000, seed=21, start=datetime(2026, 11, 29, 12, tzinfo=timezone.utc),
                              late_share=0.03, malformed_share=0.02, partitions=4, progress=False)
    report = run_simulation(broker_only, config)
    assert report.failed == 0 and report.sent == 30_000

    expected = expected_messages(config)  # the same seed regenerates exactly the messages that were sent

    for contract in contracts.CONTRACTS:
        want = Counter((m.key, m.value) for m in expected if m.topic == contract.topic)
        got = Counter()
        partitions_by_key = {}
        for msg in read_topic(broker_only, contract.topic, idle_timeout_s=1.0):
            got[(msg.key(), msg.value())] += 1
            # keyed by entity id: all messages of one entity land in one partition (per-entity order)
            assert partitions_by_key.setdefault(msg.key(), msg.partition()) == msg.partition()
            typed, reason = contract.parse(msg.value())
            if reason is None:
                assert typed[contract.key].encode() == msg.key()
        assert got == want, contract.topic
        assert report.topics[contract.topic].sent == sum(want.values())
        assert len(partitions_of(broker_only, contract.topic)) == 4
