"""Render the report from the marts' lake copies and write it: one PNG per chart and `index.html` (the
PNGs embedded, so the page alone is the whole report).

Written to `report/<last hour>Z-<hours>h/` in the lake (e.g. `report/2026-11-29T12Z-24h/index.html`), with a
copy of the page at `report/latest/index.html`; or to a local folder of the caller's choosing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime

from smartcity.lake import Lake, layout
from smartcity.lake.iceberg import LakeTables
from smartcity.lake.layout import Hour
from smartcity.report.charts import Chart, air_quality, bus_regularity, congestion_heatmap, weather_impact
from smartcity.report.citymap import city_map
from smartcity.report.data import ReportData, load_window
from smartcity.report.page import html_page

CHARTS = (congestion_heatmap, city_map, air_quality, bus_regularity, weather_impact)


@dataclass(frozen=True)
class Report:
    data: ReportData
    charts: list[Chart]
    html_uri: str  # where index.html was written (file:// or s3://)
    latest_uri: str | None  # the copy at report/latest/index.html (lake output only)
    png_uris: dict[str, str]  # chart name -> URI of its PNG


def report_folder(data: ReportData) -> str:
    return layout.report_folder(Hour.of(data.end), len(data.hours))


def build_report(tables: LakeTables, hours: int = 24, out: str | None = None) -> Report:
    """Render the last `hours` hours of the marts (the lake's Iceberg tables); write to the lake's report area,
    or to the local folder `out`."""
    data = load_window(tables, hours)
    lake = tables.lake
    charts = [chart(data) for chart in CHARTS]
    target, folder = (Lake("file://" + os.path.abspath(out)), []) if out else (lake, [report_folder(data)])
    png_uris = {}
    for chart in charts:
        path = target.path(*folder, f"{chart.name}.png")
        target.write_bytes(path, chart.png)
        png_uris[chart.name] = target.uri_of(path)
    page = html_page(data, charts, f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC").encode("utf-8")
    html = target.path(*folder, "index.html")
    target.write_bytes(html, page)
    latest = None
    if not out:
        latest = target.path(layout.LATEST_REPORT)
        target.write_bytes(latest, page)
    return Report(data, charts, target.uri_of(html), target.uri_of(latest) if latest else None, png_uris)
