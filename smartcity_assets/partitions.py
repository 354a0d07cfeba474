"""Hourly UTC partitions shared by the raw and transformed layers."""

import dagster as dg

from smartcity import names
from smartcity.lake.layout import PartitionKey

HOURLY = dg.HourlyPartitionsDefinition(start_date="2026-01-01-00:00", timezone="UTC")


def date_hour(partition_key: str) -> tuple[str, int]:
    """'2026-11-29-07:00' -> ('2026-11-29', 7); anything else is refused (it ends up in paths and SQL)."""
    if len(partition_key) != 16 or partition_key[10] != "-" or partition_key[13:] != ":00" \
            or not partition_key[11:13].isascii() or not partition_key[11:13].isdigit():
        raise ValueError(f"not an hourly partition key (YYYY-MM-DD-HH:00): {partition_key!r}")
    return names.partition_date(partition_key[:10]), names.partition_hour(int(partition_key[11:13]))


def raw_partition(source: str, partition_key: str) -> PartitionKey:
    date, hour = date_hour(partition_key)
    return PartitionKey("raw", source, date, hour)
