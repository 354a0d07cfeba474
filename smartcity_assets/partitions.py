"""Hourly UTC partitions shared by the raw and transformed layers."""

from datetime import datetime, timedelta

import dagster as dg

from smartcity import names
from smartcity.lake.layout import PartitionKey

FIRST_DATE = "2026-01-01"
# end_offset=1: the hour in progress is a partition too, materialized again as its events stream in.
HOURLY = dg.HourlyPartitionsDefinition(start_date=f"{FIRST_DATE}-00:00", timezone="UTC", end_offset=1)


def date_hour(partition_key: str) -> tuple[str, int]:
    """'2026-11-29-07:00' -> ('2026-11-29', 7); anything else is refused (it ends up in paths and SQL)."""
    if len(partition_key) != 16 or partition_key[10] != "-" or partition_key[13:] != ":00" \
            or not partition_key[11:13].isascii() or not partition_key[11:13].isdigit():
        raise ValueError(f"not an hourly partition key (YYYY-MM-DD-HH:00): {partition_key!r}")
    return names.partition_date(partition_key[:10]), names.partition_hour(int(partition_key[11:13]))


def following_hour(partition_key: str) -> str:
    """'2026-11-29-23:00' -> '2026-11-30-00:00' (whether or not that partition exists yet)."""
    start = datetime.strptime(partition_key, "%Y-%m-%d-%H:%M") + timedelta(hours=1)
    return start.strftime("%Y-%m-%d-%H:%M")


def raw_partition(source: str, partition_key: str) -> PartitionKey:
    date, hour = date_hour(partition_key)
    return PartitionKey("raw", source, date, hour)
