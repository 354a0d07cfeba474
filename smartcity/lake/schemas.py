"""The columns of the streaming job's files in the lake, derived from the event contracts.

- `RAW_FILE_SCHEMAS[source]`: a raw-zone Parquet file of one source: the contract's fields plus the Kafka
  envelope (partition columns live in the path).
- `QUARANTINE_FILE`: a quarantine file: the raw payload, its Kafka coordinates and the reason.
"""

from __future__ import annotations

import pyarrow as pa

from smartcity import contracts
from smartcity.contracts import KAFKA_FIELDS, Field, FieldType

KAFKA_ARROW_FIELDS = [f.arrow_field() for f in KAFKA_FIELDS]


def raw_file_schema(contract: contracts.EventContract) -> pa.Schema:
    base = contract.arrow_schema()
    return pa.schema(list(base) + KAFKA_ARROW_FIELDS, metadata=base.metadata)


RAW_FILE_SCHEMAS = {c.name: raw_file_schema(c) for c in contracts.CONTRACTS}

QUARANTINE_FILE = pa.schema(KAFKA_ARROW_FIELDS + [
    Field("kafka_key", FieldType.STRING, "Kafka message key", nullable=True).arrow_field(),
    Field("reason", FieldType.STRING, "Why the message was rejected, e.g. missing_field:speed_kmh").arrow_field(),
    pa.field("raw_value", pa.binary(), True, {"comment": "The message value exactly as received"}),
])
