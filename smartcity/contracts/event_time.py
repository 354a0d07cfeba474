"""The event times the platform accepts: from the first hour any table can have up to the moment the event was
ingested plus an allowed clock skew. A message outside that window is quarantined with the reason
`out_of_window:event_time`: a GPS week rollover (1999-08-21), an unset clock (0001-01-01) or a far-future
time (2099-12-31, 9999-12-31) would otherwise land in an hour no Dagster partition has (stalling the sensor)
and drag the live layer's clock, which only moves forward, into the future.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.compute as pc

from smartcity.contracts.model import ARROW_TYPES, FieldType

FIRST_DATE = "2026-01-01"  # the first hour any hourly table can have (00:00 UTC that day)
FIRST_EVENT_TIME = datetime.fromisoformat(f"{FIRST_DATE}T00:00:00+00:00")
# How far ahead of the ingest time an event may be: devices' clocks drift a little (NTP, GPS time); anything
# further ahead is a broken clock.
MAX_CLOCK_SKEW = timedelta(minutes=5)
OUT_OF_WINDOW = "out_of_window:event_time"


def latest_accepted(ingest_time: datetime) -> datetime:
    return ingest_time.astimezone(timezone.utc) + MAX_CLOCK_SKEW


def in_window(event_times: pa.Array, ingest_time: datetime) -> pa.Array:
    """Which event times (UTC timestamps) the platform accepts for messages ingested at `ingest_time`."""
    kind = ARROW_TYPES[FieldType.TIMESTAMP]
    first, last = pa.scalar(FIRST_EVENT_TIME, kind), pa.scalar(latest_accepted(ingest_time), kind)
    return pc.fill_null(pc.and_(pc.greater_equal(event_times, first), pc.less_equal(event_times, last)), False)
