"""The marts' lake copies for a window of hours, as pandas frames.

Each mart hour is a file of the mart's Iceberg table `marts_<mart>` (an hour without rows still gets a file, so
"no incidents" and "not computed" stay distinct); which hours exist is read from the current snapshot's manifests. The window is
the last `hours` hours ending at the newest hour any mart has (starting later when no mart goes back that
far); hours of the window that a mart has not computed are simply absent from its frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from smartcity.catalog.tables import mart_table
from smartcity.errors import SmartcityError
from smartcity.lake.iceberg import LakeTables
from smartcity.lake.layout import Hour
from smartcity.marts import BY_NAME
from smartcity.marts import MARTS as MART_SPECS

MARTS = tuple(m.name for m in MART_SPECS)
MAX_HOURS = 24 * 366


class ReportError(SmartcityError):
    """The report cannot be made (e.g. no mart in the lake yet)."""


@dataclass(frozen=True)
class MartData:
    name: str
    frame: pd.DataFrame  # the window's rows, plus `hour`: the partition's start as a UTC timestamp
    hours: tuple[pd.Timestamp, ...]  # the window's hours this mart has computed (with or without rows)


@dataclass(frozen=True)
class ReportData:
    lake_uri: str
    start: pd.Timestamp  # first hour of the window (UTC)
    end: pd.Timestamp  # last hour of the window (UTC), the newest hour with a mart partition
    marts: dict[str, MartData]

    @property
    def hours(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start, self.end, freq="h")

    def frame(self, mart: str) -> pd.DataFrame:
        return self.marts[mart].frame


def _read(tables: LakeTables, mart: str, hours: list[pd.Timestamp]) -> pd.DataFrame:
    table = tables.read(mart_table(BY_NAME[mart]), [Hour.of(h) for h in hours])
    if not table.num_rows:
        return pd.DataFrame({"hour": pd.Series([], dtype="datetime64[ns, UTC]")})
    frame = table.to_pandas()
    frame["hour"] = pd.to_datetime(frame["event_date"].astype(str)).dt.tz_localize("UTC") + pd.to_timedelta(
        frame["event_hour"], unit="h")
    return frame


def check_hours(hours: int) -> int:
    if not 1 <= hours <= MAX_HOURS:
        raise ReportError(f"the report covers 1 to {MAX_HOURS:,} hours (a year), got {hours:,}")
    return hours


def load_window(tables: LakeTables, hours: int = 24, end: pd.Timestamp | None = None) -> ReportData:
    """The marts over the `hours` hours ending at `end` (default: the newest hour any mart has)."""
    check_hours(hours)
    computed = {mart: [pd.Timestamp(h.start) for h in tables.hours(mart_table(BY_NAME[mart]))] for mart in MARTS}
    end = end if end is not None else max((h[-1] for h in computed.values() if h), default=None)
    if end is None:
        raise ReportError(f"no mart has an hour in the lake {tables.lake.uri} yet (the Iceberg tables marts_<mart> "
                          "are empty or absent): materialize the marts first, e.g. `smartcity demo` or the marts "
                          "group in the Dagster UI")
    start = end - pd.Timedelta(hours=hours - 1)
    present = {mart: [h for h in found if start <= h <= end] for mart, found in computed.items()}
    start = min(h for found in present.values() for h in found[:1])  # no leading hours without any mart
    return ReportData(tables.lake.uri, start, end,
                      {m: MartData(m, _read(tables, m, h), tuple(h)) for m, h in present.items()})
