"""The report as one self-contained HTML page (opens from disk, no server, no external reference) and as
Markdown for Dagster's metadata panel. Both embed the PNGs as base64 data URIs."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape

from smartcity.report.charts import Chart, when
from smartcity.report.data import MARTS, ReportData

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
.window { color: #555; margin-top: 0; }
section { margin: 2.2rem 0; }
h2 { font-size: 1.2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.3rem; }
img { max-width: 100%; height: auto; display: block; }
p.caption { font-size: 1rem; line-height: 1.45; background: #f6f7f9; padding: 0.6rem 0.8rem;
            border-left: 4px solid #4f8fd6; }
table { border-collapse: collapse; font-size: 0.9rem; }
td, th { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; }
"""


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def window_text(data: ReportData) -> str:
    return f"{when(data.start)} – {when(data.end)} ({len(data.hours)} h)"


def coverage(data: ReportData) -> list[tuple[str, int, int]]:
    """(mart, hours of the window it has, rows) for each mart."""
    return [(m, len(data.marts[m].hours), len(data.marts[m].frame)) for m in MARTS]


def html_page(data: ReportData, charts: Sequence[Chart], generated: str) -> str:
    sections = "\n".join(
        f'<section id="{escape(c.name)}">\n<h2>{escape(c.title)}</h2>\n<p class="caption">{escape(c.caption)}</p>\n'
        f'<img src="{data_uri(c.png)}" alt="{escape(c.title)}">\n</section>' for c in charts)
    rows = "\n".join(f"<tr><td>{escape(m)}</td><td>{hours} of {len(data.hours)}</td><td>{n:,}</td></tr>"
                     for m, hours, n in coverage(data))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Smart city report — {escape(window_text(data))}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>Smart city report</h1>
<p class="window">{escape(window_text(data))}, from the marts in {escape(data.lake_uri)}. Generated {escape(generated)}.</p>
{sections}
<section id="sources">
<h2>Sources</h2>
<table><tr><th>mart (lake copy)</th><th>hours present</th><th>rows</th></tr>
{rows}
</table>
</section>
</body>
</html>
"""


def markdown(data: ReportData, charts: Sequence[Chart], html_uri: str) -> str:
    """The report for Dagster's metadata panel (its Markdown renderer shows data-URI images)."""
    parts = [f"**{window_text(data)}** — full page: `{html_uri}`"]
    parts += [f"### {c.title}\n\n{c.caption}\n\n![{c.title}]({data_uri(c.png)})" for c in charts]
    return "\n\n".join(parts)
