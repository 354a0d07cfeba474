"""The two validators of an event: one record at a time (the final word) and column-wise over many records
(several times faster, used by the streaming parser). Both return machine-readable reasons
(`<kind>:<field>`); `validate_records` sends every record it is unsure of through `validate_record`, so
the two always agree.

Wire format: one JSON object per Kafka message. Timestamps are ISO-8601 strings with an explicit UTC offset
(``2026-11-29T08:15:02.250Z``); a timestamp without an offset is rejected.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from smartcity.contracts.model import ARROW_TYPES, Field, FieldType

# RFC 3339 timestamps: the offset is required (a naive time is rejected with its own reason).
TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$"
NAIVE_TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?$"
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_TIMESTAMP_RE, _NAIVE_RE, _UUID_RE = (re.compile(p, re.ASCII) for p in (TIMESTAMP_PATTERN, NAIVE_TIMESTAMP_PATTERN,
                                                              UUID_PATTERN))
_MISSING = object()
_NUMERIC = {FieldType.DOUBLE: (float, int), FieldType.INT: (int,)}
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
_FIRST_TIME, _LAST_TIME = (pa.scalar(t.replace(tzinfo=timezone.utc), ARROW_TYPES[FieldType.TIMESTAMP])
                            for t in (datetime.min, datetime.max))  # what a Python datetime can hold
EXACT_INT = 2**53  # larger integers are not exact as doubles; the row validator decides about them


def validate_record(fields: Sequence[Field], record: Any) -> tuple[dict[str, Any] | None, str | None]:
    """Check a decoded JSON value against the fields.

    Returns ``(typed_record, None)`` when valid (timestamps become aware UTC datetimes, ints stay ints,
    doubles become floats, unknown extra fields are dropped), else ``(None, reason)`` where reason is
    ``<kind>:<field>`` with kind one of ``missing_field``, ``null_field``, ``wrong_type``,
    ``out_of_range``, ``not_allowed``, ``naive_timestamp``; or ``not_an_object``.
    """
    if not isinstance(record, dict):
        return None, "not_an_object"
    out: dict[str, Any] = {}
    for f in fields:
        if f.name not in record:
            if f.nullable:
                out[f.name] = None
                continue
            return None, f"missing_field:{f.name}"
        value = record[f.name]
        if value is None:
            if f.nullable:
                out[f.name] = None
                continue
            return None, f"null_field:{f.name}"
        value, reason = _check_value(f, value)
        if reason is not None:
            return None, f"{reason}:{f.name}"
        out[f.name] = value
    return out, None


def validate_records(fields: Sequence[Field], schema: pa.Schema, records: list[Any]
                     ) -> tuple[pa.RecordBatch, list[int], list[tuple[int, str]]]:
    """`validate_record` for many records at once, column by column.

    Returns the valid records as a typed batch (in `schema`), their positions in `records`, and
    (position, reason) for the rejected ones. Cheap column checks find every record that might be
    invalid; those few go through `validate_record`, which has the final word.
    """
    n = len(records)
    suspect = {i for i, r in enumerate(records) if r.__class__ is not dict}
    columns: dict[str, pa.Array] = {}
    for f in fields:
        values = [r.get(f.name, _MISSING) if r.__class__ is dict else None for r in records]
        columns[f.name] = _column(f, values, suspect)
    clean = [i for i in range(n) if i not in suspect]
    if len(clean) == n:
        return pa.RecordBatch.from_arrays([columns[f.name] for f in fields], schema=schema), clean, []
    mask = pa.array([i not in suspect for i in range(n)])
    fast = pa.RecordBatch.from_arrays([pc.filter(columns[f.name], mask) for f in fields], schema=schema)
    slow_rows, slow_records, rejected = [], [], []
    for i in sorted(suspect):
        typed, reason = validate_record(fields, records[i])
        if reason is None:
            slow_rows.append(i)
            slow_records.append(typed)
        else:
            rejected.append((i, reason))
    if slow_records:
        slow = pa.RecordBatch.from_pylist(slow_records, schema=schema)
        fast = pa.Table.from_batches([fast, slow]).combine_chunks().to_batches()[0]
    return fast, clean + slow_rows, rejected


def decode(payload: bytes | str | None) -> tuple[Any, str | None]:
    """One Kafka message value as JSON, or the reason it is not (``empty_message``, ``invalid_json``)."""
    if payload is None:
        return None, "empty_message"
    try:
        return orjson.loads(payload), None
    except orjson.JSONDecodeError:
        return None, "invalid_json"


def _check_value(f: Field, value: Any) -> tuple[Any, str | None]:
    t = f.type
    if t is FieldType.DOUBLE:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, "wrong_type"
        try:
            value = float(value)
        except OverflowError:  # an integer beyond any double
            return None, "out_of_range"
        if value != value:  # NaN is never a valid reading
            return None, "out_of_range"
    elif t is FieldType.INT:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                return None, "wrong_type"
        if not INT32_MIN <= value <= INT32_MAX:  # what the column holds, whatever the contract's range
            return None, "out_of_range"
    elif t is FieldType.TIMESTAMP:
        if not isinstance(value, str):
            return None, "wrong_type"
        if not _TIMESTAMP_RE.match(value):
            return None, "naive_timestamp" if _NAIVE_RE.match(value) else "wrong_type"
        try:
            return datetime.fromisoformat(value).astimezone(timezone.utc), None
        except ValueError:  # e.g. February 30th
            return None, "wrong_type"
        except OverflowError:  # in UTC before year 1 or after year 9999
            return None, "out_of_range"
    elif t is FieldType.UUID:
        if not isinstance(value, str) or not _UUID_RE.match(value):
            return None, "wrong_type"
        return value, None
    elif t is FieldType.STRING:
        if not isinstance(value, str):
            return None, "wrong_type"
        if f.allowed is not None and value not in f.allowed:
            return None, "not_allowed"
        if not value:
            return None, "out_of_range"
        return value, None
    else:
        raise TypeError(f"{f.name}: events carry no {t.value} fields")
    if (f.min is not None and value < f.min) or (f.max is not None and value > f.max):
        return None, "out_of_range"
    return value, None


def _column(f: Field, values: list[Any], suspect: set[int]) -> pa.Array:
    """One field of many records as a typed Arrow array; positions that might be invalid go to `suspect`
    (and become null in the array)."""
    t = f.type
    ok_types = _NUMERIC.get(t, (str,))  # exact classes: a bool is not a number here
    nullable = f.nullable
    bad = [i for i, v in enumerate(values)
           if (v.__class__ not in ok_types and not (nullable and (v is None or v is _MISSING)))
           or (v.__class__ is int and not -EXACT_INT <= v <= EXACT_INT)]  # beyond int64 / exact doubles
    if bad:
        suspect.update(bad)
        for i in bad:
            values[i] = None
    if f.nullable:
        values = [None if v is _MISSING else v for v in values]
    if t is FieldType.TIMESTAMP:
        text = pa.array(values, pa.string())
        ok = pc.match_substring_regex(text, TIMESTAMP_PATTERN)
        _flag(pc.invert(ok), suspect)
        text = pc.if_else(ok, text, None)
        try:
            stamps = pc.cast(text, ARROW_TYPES[t])
        except pa.ArrowInvalid:  # a well-formed but impossible date: let the row validator say which
            parsed = []
            for i, v in enumerate(text.to_pylist()):
                try:
                    parsed.append(None if v is None else datetime.fromisoformat(v).astimezone(timezone.utc))
                except (ValueError, OverflowError):
                    suspect.add(i)
                    parsed.append(None)
            stamps = pa.array(parsed, ARROW_TYPES[t])
        # a UTC time outside years 1..9999 has no Python datetime: the row validator rejects it
        _flag(pc.or_(pc.less(stamps, _FIRST_TIME), pc.greater(stamps, _LAST_TIME)), suspect)
        return stamps
    array = pa.array(values, ARROW_TYPES[t] if t is not FieldType.INT else pa.int64())
    checks = []
    if t is FieldType.UUID:
        checks.append(pc.invert(pc.match_substring_regex(array, UUID_PATTERN)))
    elif t is FieldType.STRING:
        checks.append(pc.equal(array, ""))
        if f.allowed is not None:
            checks.append(pc.invert(pc.is_in(array, pa.array(f.allowed))))
    else:
        if t is FieldType.DOUBLE:
            checks.append(pc.is_nan(array))
        if t is FieldType.INT:
            checks.append(pc.or_(pc.less(array, INT32_MIN), pc.greater(array, INT32_MAX)))
        if f.min is not None:
            checks.append(pc.less(array, f.min))
        if f.max is not None:
            checks.append(pc.greater(array, f.max))
    for check in checks:
        _flag(check, suspect)
    if t is FieldType.INT:
        array = pc.cast(array, ARROW_TYPES[t], safe=False)  # out-of-range values were flagged above
    return array


def _flag(mask: pa.Array, suspect: set[int]) -> None:
    if pc.any(mask).as_py():
        suspect.update(pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist())
