"""Hourly UTC partitions shared by every hourly asset, and how their keys map onto the lake's hours."""

from __future__ import annotations

import dagster as dg

from smartcity.lake.layout import FIRST_DATE, Hour

# end_offset=1: the hour in progress is a partition too, materialized again as its events stream in.
HOURLY = dg.HourlyPartitionsDefinition(start_date=f"{FIRST_DATE}-00:00", timezone="UTC", end_offset=1)

# An input read for the asset's hour and the hour after it: a change to hour H recomputes hours H-1 and H.
THIS_AND_NEXT_HOUR = dg.TimeWindowPartitionMapping(start_offset=0, end_offset=1)


def hour_of(context: dg.AssetExecutionContext) -> Hour:
    return Hour.parse(context.partition_key)
