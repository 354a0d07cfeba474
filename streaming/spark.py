"""The streaming job's Spark plumbing: its data sources registered on a session."""

from __future__ import annotations


def register(spark) -> None:
    """Make the Kafka source and the lake sink known to a session (idempotent)."""
    from streaming.kafka_source import KafkaSource
    from streaming.lake_sink import LakeSink

    spark.dataSource.register(KafkaSource)
    spark.dataSource.register(LakeSink)
