"""Schemas of the streaming job between Kafka and the lake (the lake files' own are in smartcity.lake.schemas).

- `KAFKA_RECORD`: what the Kafka source emits (like Spark's built-in kafka source).
- `PARSED`: the one DataFrame between parsing and the sink: common columns plus one struct column per
  source, of which exactly one is set for a valid row (none for a quarantined row).
"""

from __future__ import annotations

import pyarrow as pa

from smartcity import contracts
from smartcity.lake.schemas import KAFKA_ARROW_FIELDS

TS = pa.timestamp("us", tz="UTC")

KAFKA_RECORD = pa.schema([
    ("topic", pa.string()), ("partition", pa.int32()), ("offset", pa.int64()),
    ("timestamp", TS), ("key", pa.binary()), ("value", pa.binary()),
])

PARSED = pa.schema(
    [pa.field("source", pa.string(), False), *KAFKA_ARROW_FIELDS, pa.field("kafka_key", pa.string()),
     pa.field("part_date", pa.string(), False), pa.field("part_hour", pa.int32(), False),
     pa.field("reason", pa.string()), pa.field("raw_value", pa.binary())]
    + [pa.field(c.name, pa.struct(list(c.arrow_schema()))) for c in contracts.CONTRACTS]
)
