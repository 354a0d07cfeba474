"""What every mart frame shares: its hour's partition columns, and the spec's column order."""

from __future__ import annotations

from smartcity.lake.layout import Hour
from smartcity.marts.spec import Mart


def finish(frame, mart: Mart, hour: Hour, *order: str):
    """Add the hour's partition columns, select the spec's columns in order, sort. A mart's hour is small (one
    row per segment, zone or incident): sorted in one task, which spares the global sort's sampling job."""
    from pyspark.sql import functions as F

    frame = frame.withColumn("event_date", F.to_date(F.lit(hour.date))).withColumn("event_hour", F.lit(hour.hour))
    return frame.select(*mart.column_names).coalesce(1).sortWithinPartitions(*order)

