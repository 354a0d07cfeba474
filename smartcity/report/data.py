"""The marts' lake copies for a window of hours, as pandas frames.

Each mart hour is written by its Dagster asset to `marts/<mart>/event_date=YYYY-MM-DD/event_hour=HH/data.parquet`
(an hour without rows still gets a file, so "no incidents" and "not computed" stay distinct). The window is
the last `hours` hours ending at the newest hour any mart has (starting later when no mart goes back that
far); hours of the window that a mart has not computed are simply absent from its frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from smartcity.errors import SmartcityError
from smartcity.lake import Lake, layout
from smartcity.lake.layout import Hour
from smartcity.marts import MARTS as MART_SPECS

MARTS = tuple(m.name for m in MART_SPECS)


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


def _partitions(lake: Lake, mart: str, dates: set[str] | None = None) -> list[pd.Timestamp]:
    """Hours with a data file of `mart` (only within `dates` when given), oldest first."""
    folder = layout.mart_folder(mart)
    found = []
    for date_dir in lake.list_subdirs(lake.path(folder)):
        if dates is not None and date_dir.removeprefix("event_date=") not in dates:
            continue
        for hour_dir in lake.list_subdirs(lake.path(folder, date_dir)):
            hour = layout.hour_of_folders(date_dir, hour_dir)
            if hour is not None and lake.exists(lake.path(layout.mart_file(mart, hour))):
                found.append(pd.Timestamp(hour.start))
    return sorted(found)


def _latest_hour(lake: Lake) -> pd.Timestamp | None:
    """The newest hour any mart has: only the newest date folder of each mart is listed hour by hour."""
    newest = []
    for mart in MARTS:
        dates = [d.removeprefix("event_date=") for d in lake.list_subdirs(lake.path(layout.mart_folder(mart)))
                 if d.startswith("event_date=")]
        while dates and not (hours := _partitions(lake, mart, {dates[-1]})):
            dates.pop()  # a date folder without any data file (e.g. a write in progress): look further back
        if dates:
            newest.append(hours[-1])
    return max(newest) if newest else None


def _read(lake: Lake, mart: str, hours: list[pd.Timestamp]) -> pd.DataFrame:
    paths = [lake.path(layout.mart_file(mart, Hour.of(h))) for h in hours]
    # Hours without rows add no rows (and older ones were written with untyped columns): leave them out.
    tables = [t for t in (lake.read_parquet([p]) for p in paths) if t.num_rows]
    if not tables:
        return pd.DataFrame({"hour": pd.Series([], dtype="datetime64[ns, UTC]")})
    frame = pa.concat_tables(tables, promote_options="default").to_pandas()
    frame["hour"] = pd.to_datetime(frame["event_date"].astype(str)).dt.tz_localize("UTC") + pd.to_timedelta(
        frame["event_hour"], unit="h")
    return frame


def load_window(lake: Lake, hours: int = 24, end: pd.Timestamp | None = None) -> ReportData:
    """The marts over the `hours` hours ending at `end` (default: the newest hour any mart has)."""
    if hours < 1:
        raise ReportError(f"the report needs a window of at least one hour, got {hours}")
    end = end if end is not None else _latest_hour(lake)
    if end is None:
        raise ReportError(f"no mart partitions in the lake {lake.uri} (looked for marts/<mart>/event_date=*/"
                          "event_hour=*/data.parquet): materialize the marts first, e.g. `smartcity demo` or the "
                          "marts group in the Dagster UI")
    start = end - pd.Timedelta(hours=hours - 1)
    dates = {d.strftime("%Y-%m-%d") for d in pd.date_range(start.normalize(), end.normalize(), freq="D")}
    present = {mart: [h for h in _partitions(lake, mart, dates) if start <= h <= end] for mart in MARTS}
    start = min(h for hours in present.values() for h in hours[:1])  # no leading hours without any mart
    return ReportData(lake.uri, start, end, {m: MartData(m, _read(lake, m, h), tuple(h)) for m, h in present.items()})
