"""Hourly UTC partitions shared by the raw and transformed layers."""

import dagster as dg

from smartcity.lake.layout import PartitionKey

HOURLY = dg.HourlyPartitionsDefinition(start_date="2026-01-01-00:00", timezone="UTC")


def date_hour(partition_key: str) -> tuple[str, int]:
    """'2026-11-29-07:00' -> ('2026-11-29', 7)."""
    return partition_key[:10], int(partition_key[11:13])


def raw_partition(source: str, partition_key: str) -> PartitionKey:
    date, hour = date_hour(partition_key)
    return PartitionKey("raw", source, date, hour)
