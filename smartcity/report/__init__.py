"""The city report: charts of the marts (congestion, incidents on the map, air quality, bus regularity,
weather impact) as PNGs and one self-contained HTML page, rendered from the marts' lake copies."""

from smartcity.report.build import Report, build_report
from smartcity.report.data import ReportError, load_window

__all__ = ["Report", "ReportError", "build_report", "load_window"]
