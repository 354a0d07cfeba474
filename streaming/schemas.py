"""Schemas of the streaming layer, all derived from the event contracts.

- `KAFKA_RECORD`: what the Kafka source emits (like Spark's built-in kafka source).
- `raw_file_schema(contract)`: the columns of a raw-zone Parquet file of one source: the contract's
  fields plus the Kafka coordinates and ingest time (partition columns live in the path).
- `QUARANTINE_FILE`: the columns of a quarantine file: raw payload, coordinates and reason.
- `PARSED`: the one DataFrame between parsing and the sink: common columns plus one struct column per
  source, of which exactly one is set for a valid row (none for a quarantined row).
"""

from __future__ import annotations

import pyarrow as pa
from pyspark.sql import types as T

from smartcity import contracts
from smartcity.contracts import FieldType

TS = pa.timestamp("us", tz="UTC")

KAFKA_RECORD = pa.schema([
    ("topic", pa.string()), ("partition", pa.int32()), ("offset", pa.int64()),
    ("timestamp", TS), ("key", pa.binary()), ("value", pa.binary()),
])

KAFKA_META = [
    pa.field("kafka_topic", pa.string(), False, {"comment": "Kafka topic the event was read from"}),
    pa.field("kafka_partition", pa.int32(), False, {"comment": "Kafka partition"}),
    pa.field("kafka_offset", pa.int64(), False, {"comment": "Offset within the Kafka partition"}),
    pa.field("kafka_timestamp", TS, True, {"comment": "Kafka record timestamp (producer create time)"}),
    pa.field("ingest_time", TS, False, {"comment": "When the streaming job parsed the message, UTC"}),
]


def raw_file_schema(contract: contracts.EventContract) -> pa.Schema:
    base = contract.arrow_schema()
    return pa.schema(list(base) + KAFKA_META, metadata=base.metadata)


RAW_FILE_SCHEMAS = {c.name: raw_file_schema(c) for c in contracts.CONTRACTS}

QUARANTINE_FILE = pa.schema(KAFKA_META + [
    pa.field("kafka_key", pa.string(), True, {"comment": "Kafka message key"}),
    pa.field("reason", pa.string(), False, {"comment": "Why the message was rejected, e.g. missing_field:speed_kmh"}),
    pa.field("raw_value", pa.binary(), True, {"comment": "The message value exactly as received"}),
])

PARSED = pa.schema(
    [pa.field("source", pa.string(), False), *KAFKA_META, pa.field("kafka_key", pa.string()),
     pa.field("part_date", pa.string(), False), pa.field("part_hour", pa.int32(), False),
     pa.field("reason", pa.string()), pa.field("raw_value", pa.binary())]
    + [pa.field(c.name, pa.struct(list(c.arrow_schema()))) for c in contracts.CONTRACTS]
)

_SPARK_TYPES = {FieldType.STRING: T.StringType(), FieldType.UUID: T.StringType(),
                FieldType.TIMESTAMP: T.TimestampType(), FieldType.DOUBLE: T.DoubleType(),
                FieldType.INT: T.IntegerType()}


def spark_schema(contract: contracts.EventContract) -> T.StructType:
    """Spark columns of an event type, with the contract's description as the column comment."""
    return T.StructType([T.StructField(f.name, _SPARK_TYPES[f.type], f.nullable, {"comment": f.comment})
                         for f in contract.fields])


def spark_from_arrow(schema: pa.Schema) -> T.StructType:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)
