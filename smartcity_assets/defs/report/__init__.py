"""The city report: the marts as charts, shown on the asset's page and written to the lake as PNGs and one
self-contained HTML page.

Unpartitioned on purpose: a report spans many hours, so it reads whichever hours the marts' Iceberg tables hold in
the lake for the last `hours` hours (ending at the newest hour any mart has) rather than mapping to one mart
partition. Materialize it on demand from the UI (or `smartcity report` without Dagster); each
materialization keeps its charts in its metadata, so earlier reports stay viewable in the asset's history.
"""

import dagster as dg

from smartcity.marts import MARTS
from smartcity_assets.keys import REPORT, REPORT_KEY, mart_key
from smartcity_assets.metadata import OWNERS
from smartcity_assets.resources import TablesResource


class ReportConfig(dg.Config):
    hours: int = 24  # the window: this many hours, ending at the newest hour any mart has


@dg.asset(key=REPORT_KEY, group_name=REPORT, deps=[mart_key(m.name) for m in MARTS], kinds={"python"},
          owners=OWNERS,
          description="The city at a glance over the last hours of the marts: congestion by zone, road class and "
                      "hour; the road network coloured by its latest congestion with the incidents on it (type and "
                      "severity); air quality by zone against the alert threshold; bus headway regularity per route; "
                      "speeds and incidents by weather. Charts inline here (metadata 'report') and as one HTML page "
                      "in the lake that opens from disk: report/latest/index.html, and report/2026-11-29T12Z-24h/"
                      "index.html for the 24 hours up to 12:00 UTC.")
def city_report(context: dg.AssetExecutionContext, config: ReportConfig,
                tables: TablesResource) -> dg.MaterializeResult:
    # Imported here: the charts need matplotlib, which every other run (and loading the code location) can skip.
    from smartcity.report import ReportError, build_report
    from smartcity.report.page import coverage, markdown, window_text

    try:
        report = build_report(tables.tables(), hours=config.hours)
    except ReportError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    data = report.data
    context.log.info(f"city report {window_text(data)}: {report.html_uri}")
    numbers = {key: value for chart in report.charts for key, value in chart.numbers.items()}
    return dg.MaterializeResult(metadata={
        "report": dg.MetadataValue.md(markdown(data, report.charts, report.html_uri)),
        "dagster/uri": report.html_uri,
        "latest_page": report.latest_uri,
        "window": window_text(data),
        "window_hours": len(data.hours),
        "mart_hours_present": dg.MetadataValue.md("\n".join(
            ["| mart | hours present | rows |", "|---|---|---|",
             *(f"| {m} | {h} of {len(data.hours)} | {n:,} |" for m, h, n in coverage(data))])),
        **numbers,
    })


defs = dg.Definitions(assets=[city_report])
