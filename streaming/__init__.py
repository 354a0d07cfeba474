"""Spark Structured Streaming: Kafka topics -> raw zone of the lake, exactly once."""
