"""Contract parsing under fuzzing (hypothesis): arbitrary bytes, arbitrary JSON and near-valid records.

Whatever arrives on a topic, `EventContract.parse` / `validate` / `validate_batch` and the streaming parser
never raise: every message is either a typed row or a quarantine reason. `validate_batch` (column-wise,
what the streaming job runs) agrees with `validate` (row by row) on every record.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from smartcity import contracts
from smartcity.contracts import CONTRACTS, FieldType
from smartcity.simulator.world import World
from streaming.parse import parse_batch
from streaming.schemas import KAFKA_RECORD, PARSED

START = datetime(2026, 11, 29, 7, 30, tzinfo=timezone.utc)  # also the ingest time of the parser tests
FIRST_ACCEPTED = datetime(2026, 1, 1, tzinfo=timezone.utc)  # the documented window: 2026-01-01 .. ingest + 5 min
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_BATCHES = settings(FUZZ, max_examples=80)  # each example is a whole batch of records


def _valid_records() -> dict[str, list[dict]]:
    world, found = World(seed=9, vehicles=300, start=START), {c.name: [] for c in CONTRACTS}
    while any(len(v) < 20 for v in found.values()):
        for contract, record in world.step():
            found[contract.name].append(record)
    return found


VALID = _valid_records()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)

def _iso(moment: datetime, offset_minutes: int, digits: int) -> str:
    m, sign, minutes = moment, "+-"[offset_minutes < 0], abs(offset_minutes)
    fraction = f".{m.microsecond:06d}"[: digits + 1] if digits else ""
    offset = "Z" if offset_minutes == 0 and digits % 2 else f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}{fraction}{offset}"


# Well-formed times anywhere in years 1..9999 (hypothesis favours the ends) with any offset up to a day ...
well_formed_times = st.builds(_iso, st.datetimes(), st.integers(-24 * 60 + 1, 24 * 60 - 1), st.integers(0, 6))
# ... and times assembled from parts that may not exist (hour 24, second 60, month 13, offset +99:99).
assembled_times = st.builds(
    lambda year, month, day, hour, minute, second, fraction, offset: f"{year:04d}-{month:02d}-{day:02d}T"
                                                                   f"{hour:02d}:{minute:02d}:{second:02d}{fraction}{offset}",
    st.sampled_from([1, 2, 1970, 2024, 2026, 9999]), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25),
    st.integers(0, 60), st.integers(0, 61), st.sampled_from(["", ".5", ".123456", ".1234567", "."]),
    st.sampled_from(["", "Z", "z", "+00:00", "-00:00", "+05:30", "-12:00", "+14:00", "+23:59", "+24:00", "+99:99",
                     "-01:00", "+01:00", "+0100", " UTC"]))
timestamps = well_formed_times | assembled_times

nasty_values = (
    st.sampled_from([None, True, False, 0, -1, 2**31, -(2**31) - 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30,
                     -(10**400), 0.0, -0.0, 1e308, -1e308, math.inf, -math.inf, math.nan, 1e-320, 3.0, 2.5, "",
                     " ", "0", "１２", "NaN", "null", [], {}, [1], {"a": 1},
                     "00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-00000000000g"])
    | st.integers() | st.floats() | st.text(max_size=20) | timestamps | json_values)


def _boundaries(f: contracts.Field) -> list:
    values = []
    for bound in (f.min, f.max):
        if bound is not None:
            values += [bound, bound - 1, bound + 1, bound - 1e-9, bound + 1e-9, float(bound)]
    if f.allowed:
        values += [*f.allowed, f.allowed[0].upper(), f.allowed[0] + " "]
    return values


@st.composite
def near_valid(draw, contract: contracts.EventContract) -> object:
    """A valid record with a few fields removed, nulled, or replaced by edge-case values."""
    record = dict(draw(st.sampled_from(VALID[contract.name])))
    for f in draw(st.lists(st.sampled_from(contract.fields), max_size=3)):
        action = draw(st.sampled_from(["drop", "null", "nasty", "edge", "timestamp"]))
        if action == "drop":
            record.pop(f.name, None)
        elif action == "null":
            record[f.name] = None
        elif action == "edge" and _boundaries(f):
            record[f.name] = draw(st.sampled_from(_boundaries(f)))
        elif action == "timestamp" or f.type is FieldType.TIMESTAMP:
            record[f.name] = draw(timestamps)
        else:
            record[f.name] = draw(nasty_values)
    if draw(st.booleans()):
        record[draw(st.text(max_size=8))] = draw(json_values)  # unknown extra fields are dropped
    return record


def _same(typed: dict, row: dict) -> bool:
    return all(typed[k] == row[k] or (isinstance(typed[k], float) and math.isnan(typed[k]) and math.isnan(row[k]))
               for k in typed)


def _check_outcome(outcome) -> None:
    typed, reason = outcome
    assert (typed is None) != (reason is None)
    if reason is not None:
        assert isinstance(reason, str) and reason
    else:
        assert isinstance(typed, dict)


@FUZZ
@given(st.sampled_from(CONTRACTS), st.binary(max_size=300) | st.none())
def test_parse_never_raises_on_arbitrary_bytes(contract, payload):
    _check_outcome(contract.parse(payload))


@FUZZ
@given(st.sampled_from(CONTRACTS), json_values)
def test_validate_never_raises_on_arbitrary_json(contract, value):
    _check_outcome(contract.validate(value))
    _check_outcome(contract.parse(encode(value)))


def encode(value) -> bytes:
    """JSON as any producer might send it: big integers as they are, NaN / Infinity as bare words."""
    return json.dumps(value, default=str).encode()


@FUZZ_BATCHES
@given(st.data())
def test_validate_batch_agrees_with_validate_row_by_row(data):
    contract = data.draw(st.sampled_from(CONTRACTS))
    records = data.draw(st.lists(near_valid(contract) | json_values, min_size=1, max_size=12))
    _agree(contract, records)


@pytest.mark.parametrize("field,value", [("latitude", 2**63 - 1), ("latitude", 2**64), ("latitude", -(10**400)),
                                         ("satellites", 2**63), ("satellites", 2**40), ("accuracy_m", 2**53 + 1)],
                         ids=["2^63-1", "2^64", "-10^400", "int 2^63", "int 2^40", "2^53+1"])
def test_integers_beyond_the_column_types_are_out_of_range(field, value):
    """Regressions found by the fuzzer: these used to raise from pyarrow (and stop the whole micro-batch)."""
    record = dict(VALID["gps"][0], **{field: value})
    assert contracts.GPS.validate(record) == (None, f"out_of_range:{field}")
    _agree(contracts.GPS, [record, VALID["gps"][1]])


def _agree(contract: contracts.EventContract, records: list) -> None:
    expected = [contract.validate(r) for r in records]
    for outcome in expected:
        _check_outcome(outcome)
    batch, good, rejected = contract.validate_batch(records)
    assert batch.schema == contract.arrow_schema()
    assert sorted(good + [i for i, _ in rejected]) == list(range(len(records)))
    assert sorted(good) == [i for i, (typed, _) in enumerate(expected) if typed is not None]  # rows in `good` order
    assert rejected == [(i, reason) for i, (_, reason) in enumerate(expected) if reason is not None]
    for position, row in zip(good, batch.to_pylist(), strict=True):
        assert _same(expected[position][0], row), (records[position], expected[position][0], row)


@FUZZ
@given(st.sampled_from(CONTRACTS), timestamps)
@example(contracts.GPS, "0001-01-01T00:30:00+01:00")  # before year 1 in UTC: used to raise OverflowError
@example(contracts.GPS, "9999-12-31T23:30:00-01:00")
def test_timestamps_get_the_same_verdict_row_by_row_and_column_wise(contract, stamp):
    """Edge times (years 1 and 9999 with offsets, hour 24, leap seconds, odd offsets) on a valid record."""
    record = dict(VALID[contract.name][0], event_time=stamp)
    typed, reason = contract.validate(record)
    batch, good, rejected = contract.validate_batch([record, VALID[contract.name][1]])
    assert sorted(good) == ([0, 1] if reason is None else [1])
    assert rejected == ([] if reason is None else [(0, reason)])
    if reason is None:
        assert batch.to_pylist()[good.index(0)]["event_time"] == typed["event_time"]


@FUZZ_BATCHES
@given(st.lists(st.tuples(
    st.sampled_from([c.topic for c in CONTRACTS] + ["smartcity.unknown", ""]),
    st.one_of(st.none(), st.binary(max_size=80), json_values.map(encode)),
    st.one_of(st.none(), st.binary(max_size=12))), min_size=1, max_size=20), st.data())
def test_streaming_parser_turns_every_message_into_a_row_or_a_reason(messages, data):
    # a share of near-valid messages on their own topic, so valid rows are exercised too
    messages = list(messages)
    for contract in data.draw(st.lists(st.sampled_from(CONTRACTS), max_size=6)):
        messages.append((contract.topic, encode(data.draw(near_valid(contract))), b"k"))
    batch = pa.RecordBatch.from_pylist(
        [{"topic": t, "partition": 1, "offset": i, "timestamp": START, "key": k, "value": v}
         for i, (t, v, k) in enumerate(messages)], schema=KAFKA_RECORD)
    rows = pa.Table.from_batches(parse_batch(batch, START), schema=PARSED).to_pylist()
    assert sorted(r["kafka_offset"] for r in rows) == list(range(len(messages)))  # each message exactly once
    for row in rows:
        topic, value, _ = messages[row["kafka_offset"]]
        contract = contracts.BY_TOPIC.get(topic)
        set_structs = [c.name for c in CONTRACTS if row[c.name] is not None]
        typed, reason = contract.parse(value) if contract is not None else (None, "unknown_topic")
        if reason is None and not FIRST_ACCEPTED <= typed["event_time"] <= START + timedelta(minutes=5):
            reason = "out_of_window:event_time"  # a valid message with a broken clock
        if row["reason"] is None:
            assert set_structs == [contract.name] and row["source"] == contract.name
            assert reason is None and _same(typed, row[contract.name])
        else:
            assert set_structs == [] and row["raw_value"] == value
            assert row["reason"] == reason


@pytest.mark.parametrize("stamp", ["2099-12-31T23:59:00Z", "9999-12-31T23:00:00Z", "0001-01-01T00:00:00Z",
                                   "1999-08-21T10:00:00Z", "2025-12-31T23:59:59.999Z", "2026-11-29T07:35:00.001Z"])
def test_a_broken_clock_is_quarantined_with_its_reason_not_landed_in_an_hour_no_table_has(stamp):
    """GPS week rollovers, unset clocks and far-future times are valid by the contract's types but outside the
    accepted window (2026-01-01 .. ingest time + 5 min): quarantined, the rest of the batch lands."""
    fixes = [dict(VALID["gps"][0], event_time=stamp), VALID["gps"][1],
             dict(VALID["gps"][2], event_time="2026-11-29T07:34:59Z"),  # 4 min 59 s ahead of the ingest: a drift
             dict(VALID["gps"][3], event_time="2026-01-01T00:00:00Z")]  # the first hour of every table
    batch = pa.RecordBatch.from_pylist(
        [{"topic": contracts.GPS.topic, "partition": 0, "offset": i, "timestamp": START, "key": b"v", "value": encode(r)}
         for i, r in enumerate(fixes)], schema=KAFKA_RECORD)
    rows = pa.Table.from_batches(parse_batch(batch, START), schema=PARSED).to_pylist()
    by_offset = {r["kafka_offset"]: r for r in rows}
    assert by_offset[0]["reason"] == "out_of_window:event_time" and by_offset[0]["raw_value"] == encode(fixes[0])
    assert (by_offset[0]["part_date"], by_offset[0]["part_hour"]) == ("2026-11-29", 7)  # quarantined by ingest time
    assert [by_offset[i]["reason"] for i in (1, 2, 3)] == [None, None, None]
    assert (by_offset[3]["part_date"], by_offset[3]["part_hour"]) == ("2026-01-01", 0)
