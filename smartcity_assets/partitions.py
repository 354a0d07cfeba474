"""Hourly UTC partitions shared by every hourly asset, and how their keys map onto the lake's hours."""

from __future__ import annotations

import dagster as dg

from smartcity.lake.layout import FIRST_DATE, Hour

# end_offset=2: the hour in progress is a partition too, materialized again as its events stream in, and so is
# the next one: an event may be up to MAX_CLOCK_SKEW ahead of the clock that ingested it
# (`smartcity.contracts.event_time`), so near the end of an hour some land in the next.
HOURLY = dg.HourlyPartitionsDefinition(start_date=f"{FIRST_DATE}-00:00", timezone="UTC", end_offset=2)


def hours_of(context: dg.AssetExecutionContext) -> list[Hour]:
    """The hours of the run: one, or a range for assets with a single-run backfill policy."""
    return [Hour.parse(key) for key in context.partition_keys]
