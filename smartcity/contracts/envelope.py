"""What every landed row carries beside its event's fields: where it came from in Kafka and when it was read.

Kept on every raw and transformed row, so any row can be traced back to its message (and replayed).
"""

from smartcity.contracts.model import Field, FieldType

KAFKA_FIELDS: tuple[Field, ...] = (
    Field("kafka_topic", FieldType.STRING, "Kafka topic the event was read from"),
    Field("kafka_partition", FieldType.INT, "Kafka partition"),
    Field("kafka_offset", FieldType.BIGINT, "Offset within the Kafka partition"),
    Field("kafka_timestamp", FieldType.TIMESTAMP, "Kafka record timestamp (producer create time)", nullable=True),
    Field("ingest_time", FieldType.TIMESTAMP, "When the streaming job parsed the message, UTC"),
)
KAFKA_COLUMNS: tuple[str, ...] = tuple(f.name for f in KAFKA_FIELDS)
