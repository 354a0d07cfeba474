"""The streaming job's Spark plumbing: its data sources registered on a session."""

from __future__ import annotations

from smartcity.settings import Settings
from smartcity.spark.session import spark_session


def register(spark) -> None:
    """Make the Kafka source and the lake sink known to a session (idempotent)."""
    from streaming.kafka_source import KafkaSource
    from streaming.lake_sink import LakeSink

    spark.dataSource.register(KafkaSource)
    spark.dataSource.register(LakeSink)


def streaming_session(settings: Settings, app_name: str = "smartcity-stream"):
    """A Spark session with the project's settings and the streaming job's data sources."""
    spark = spark_session(settings, app_name)
    register(spark)
    return spark
