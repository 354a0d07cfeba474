"""Parsing: raw Kafka records -> typed rows per event contract, or quarantine rows with a reason.

Runs on executors through `DataFrame.mapInArrow`. Each input batch becomes one output batch per source
that had valid messages (its struct column set, the others null) plus one for the quarantined ones.
Valid rows are partitioned by the *event* time's UTC date and hour; quarantined rows, whose event time
cannot be trusted, by the ingest time. A valid message whose event time lies outside the accepted window
(`smartcity.contracts.event_time`: the first table hour .. ingest time + a clock skew) is quarantined too.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from smartcity import contracts
from smartcity.contracts.event_time import OUT_OF_WINDOW, in_window
from streaming.schemas import PARSED, TS

_NULL_STRUCTS = {c.name: PARSED.field(c.name).type for c in contracts.CONTRACTS}


def parse_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        yield from parse_batch(batch, datetime.now(timezone.utc))


def parse_batch(batch: pa.RecordBatch, ingest_time: datetime) -> list[pa.RecordBatch]:
    topics = batch.column("topic").to_pylist()
    values = batch.column("value").to_pylist()
    decoded: dict[str, tuple[list[int], list]] = {}  # source -> (row numbers, decoded JSON values)
    bad_rows: list[int] = []
    reasons: list[str] = []
    contract_of = contracts.BY_TOPIC
    for i, (topic, value) in enumerate(zip(topics, values)):
        contract = contract_of.get(topic)
        if contract is None:
            bad_rows.append(i)
            reasons.append("unknown_topic")
            continue
        try:
            record = orjson.loads(value)
        except (orjson.JSONDecodeError, TypeError):
            bad_rows.append(i)
            reasons.append("invalid_json" if value is not None else "empty_message")
            continue
        rows, records = decoded.setdefault(contract.name, ([], []))
        rows.append(i)
        records.append(record)

    out = []
    for name, (rows, records) in decoded.items():
        typed, good, rejected = contracts.BY_NAME[name].validate_batch(records)
        for position, reason in rejected:
            bad_rows.append(rows[position])
            reasons.append(reason)
        accepted = in_window(typed.column("event_time"), ingest_time)
        if not pc.all(accepted).as_py():  # a broken clock: quarantined, never an hour no table has
            outside = pc.indices_nonzero(pc.invert(accepted)).to_pylist()
            bad_rows += [rows[good[i]] for i in outside]
            reasons += [OUT_OF_WINDOW] * len(outside)
            typed = typed.filter(accepted)
            good = [p for p, ok in zip(good, accepted.to_pylist()) if ok]
        if not good:
            continue
        struct = pa.StructArray.from_arrays(typed.columns, fields=list(typed.schema))
        event_time = typed.column("event_time")
        out.append(_assemble(batch, [rows[p] for p in good], name, ingest_time, struct_of={name: struct},
                             part_date=pc.strftime(event_time, "%Y-%m-%d"), part_hour=pc.hour(event_time)))
    if bad_rows:
        n = len(bad_rows)
        sources = [contract_of[t].name if t in contract_of else "unknown" for t in pc.take(
            batch.column("topic"), pa.array(bad_rows)).to_pylist()]
        out.append(_assemble(batch, bad_rows, sources, ingest_time, struct_of={},
                             part_date=pa.array([f"{ingest_time:%Y-%m-%d}"] * n),
                             part_hour=pa.array([ingest_time.hour] * n, pa.int32()),
                             reason=pa.array(reasons, pa.string()),
                             raw_value=pc.take(batch.column("value"), pa.array(bad_rows))))
    return out


def _assemble(batch: pa.RecordBatch, rows: list[int], source, ingest_time: datetime, struct_of: dict,
              part_date, part_hour, reason=None, raw_value=None) -> pa.RecordBatch:
    n = len(rows)
    idx = pa.array(rows, pa.int64())
    columns = {
        "source": pa.array([source] * n if isinstance(source, str) else source, pa.string()),
        "kafka_topic": pc.take(batch.column("topic"), idx),
        "kafka_partition": pc.take(batch.column("partition"), idx),
        "kafka_offset": pc.take(batch.column("offset"), idx),
        "kafka_timestamp": pc.take(batch.column("timestamp"), idx).cast(TS),
        "ingest_time": pa.array([ingest_time] * n, TS),
        "kafka_key": _decode_keys(pc.take(batch.column("key"), idx)),
        "part_date": part_date,
        "part_hour": pc.cast(part_hour, pa.int32()),
        "reason": reason if reason is not None else pa.nulls(n, pa.string()),
        "raw_value": raw_value if raw_value is not None else pa.nulls(n, pa.binary()),
    }
    for name, struct_type in _NULL_STRUCTS.items():
        columns[name] = struct_of.get(name, pa.nulls(n, struct_type))
    return pa.RecordBatch.from_arrays([columns[f.name] for f in PARSED], schema=PARSED)


def _decode_keys(keys: pa.Array) -> pa.Array:
    """Message keys as text (entity ids); a key that is not UTF-8 becomes null."""
    out = []
    for k in keys.to_pylist():
        try:
            out.append(None if k is None else k.decode())
        except UnicodeDecodeError:
            out.append(None)
    return pa.array(out, pa.string())
