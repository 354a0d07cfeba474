"""Hourly UTC partitions shared by every hourly asset, and how their keys map onto the lake's hours."""

from __future__ import annotations

import dagster as dg

from smartcity.lake.layout import FIRST_DATE, Hour

# end_offset=1: the hour in progress is a partition too, materialized again as its events stream in.
HOURLY = dg.HourlyPartitionsDefinition(start_date=f"{FIRST_DATE}-00:00", timezone="UTC", end_offset=1)


def hours_of(context: dg.AssetExecutionContext) -> list[Hour]:
    """The hours of the run: one, or a range for assets with a single-run backfill policy."""
    return [Hour.parse(key) for key in context.partition_keys]
