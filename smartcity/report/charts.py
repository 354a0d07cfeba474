"""The report's charts: each one a PNG (matplotlib, no GUI backend) with a caption carrying its headline
numbers. Charts draw on `matplotlib.figure.Figure` directly, so no global pyplot state is involved."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import LinearSegmentedColormap, Normalize
from matplotlib.figure import Figure

from smartcity import reference
from smartcity.contracts import WEATHER_CONDITIONS
from smartcity.marts import AQI_ALERT, CONGESTED, CONGESTION_LEVELS, GAP_FACTOR
from smartcity.report.data import ReportData

DPI = 100
ROAD_CLASSES = ("ring", "arterial", "residential")
NO_DATA = "#e4e4e4"
LEVEL_COLOURS = {"free": "#1a9850", "moderate": "#e6b800", "heavy": "#f46d43", "severe": "#a50026"}
RATIO_RANGE = (0.2, 1.0)
# Speed ratio colours: each congestion level's colour in the middle of its band, shading in between.
SPEED_RATIO_CMAP = LinearSegmentedColormap.from_list("speed_ratio", [
    (0.0, "#67001f"), (0.125, LEVEL_COLOURS["severe"]), (0.375, LEVEL_COLOURS["heavy"]),
    (0.625, LEVEL_COLOURS["moderate"]), (0.875, LEVEL_COLOURS["free"]), (1.0, "#006837")]).with_extremes(
    bad=NO_DATA, over="#006837", under="#67001f")


@dataclass(frozen=True)
class Chart:
    name: str  # file stem of the PNG
    title: str
    png: bytes
    caption: str  # one or two sentences with the headline numbers
    numbers: dict[str, float | int | str] = field(default_factory=dict)  # the same numbers, for metadata


# -- shared helpers -------------------------------------------------------------------------------------


def render_png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    # No "Software" text chunk: the PNG carries no URL and the same figure gives the same bytes.
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def when(hour: pd.Timestamp) -> str:
    return f"{hour:%d %b %H:%M} UTC"


def hour_axis(ax, hours: pd.DatetimeIndex, axis: str = "x") -> None:
    """Ticks at hour positions 0..n-1, labelled HH:MM, with the date at the first hour and at midnight."""
    step = max(1, math.ceil(len(hours) / 12))
    ticks = list(range(0, len(hours), step))
    labels = [f"{hours[i]:%d %b}\n{hours[i]:%H:%M}" if i == 0 or hours[i].hour < step else f"{hours[i]:%H:%M}"
              for i in ticks]
    (ax.set_xticks if axis == "x" else ax.set_yticks)(ticks, labels)
    (ax.set_xlim if axis == "x" else ax.set_ylim)(-0.5, len(hours) - 0.5)


def no_data(name: str, title: str, what: str, data: ReportData) -> Chart:
    """A chart that says plainly that its mart has no rows in the window."""
    fig = Figure(figsize=(10, 2.2))
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title, fontsize=13, loc="left")
    span = when(data.start) if data.start == data.end else f"{when(data.start)} – {when(data.end)}"
    text = f"No {what} for {span}."
    ax.text(0.5, 0.45, text, ha="center", va="center", fontsize=12, color="#555555", transform=ax.transAxes)
    return Chart(name, title, render_png(fig), text + " Materialize that mart for these hours to see it here.")


def zone_names() -> dict[str, str]:
    zones = reference.zones().to_pandas()
    return dict(zip(zones.zone_id, zones.zone_name))


def weighted_mean(frame: pd.DataFrame, value: str, weight: str, by: list[str]) -> pd.Series:
    valid = frame[frame[value].notna() & (frame[weight] > 0)]
    sums = (valid[value] * valid[weight]).groupby([valid[b] for b in by]).sum()
    return sums / valid.groupby(by)[weight].sum()


# -- 1. congestion heatmap -------------------------------------------------------------------------------


def congestion_heatmap(data: ReportData) -> Chart:
    name, title = "congestion_heatmap", "Congestion by zone, road class and hour"
    frame = data.frame("traffic_congestion")
    if frame.empty:
        return no_data(name, title, "traffic congestion data", data)
    names = zone_names()
    ratio = weighted_mean(frame, "speed_ratio", "gps_fixes", ["zone_id", "road_class", "hour"]).rename("ratio")
    grid = ratio.reset_index().pivot_table(index=["zone_id", "road_class"], columns="hour", values="ratio")
    grid = grid.reindex(columns=data.hours)
    order = sorted(grid.index, key=lambda k: (k[0], ROAD_CLASSES.index(k[1]) if k[1] in ROAD_CLASSES else 9))
    grid = grid.loc[order]
    rows = [f"{names.get(z, z)} · {c}" for z, c in grid.index]

    fig = Figure(figsize=(11, 1.6 + 0.3 * len(rows)))
    ax = fig.add_subplot()
    values = np.ma.masked_invalid(grid.to_numpy(dtype=float))
    image = ax.imshow(values, aspect="auto", cmap=SPEED_RATIO_CMAP, norm=Normalize(*RATIO_RANGE),
                      interpolation="nearest")
    if len(data.hours) <= 12:  # few hours: print each cell's value
        for (r, c), v in np.ndenumerate(grid.to_numpy(dtype=float)):
            if not np.isnan(v):
                ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if v < 0.35 else "black")
    ax.set_yticks(range(len(rows)), rows, fontsize=9)
    hour_axis(ax, data.hours)
    ax.set_xlabel("hour (UTC)")
    ax.set_title(f"{title} — mean speed / speed limit over all GPS fixes (grey: no data)", fontsize=12, loc="left")
    bar = fig.colorbar(image, ax=ax, extend="both", fraction=0.04, pad=0.02)
    bar.set_label("speed ratio (mean speed / limit)")
    bounds = [RATIO_RANGE[1], *(t for t, _ in CONGESTION_LEVELS[:-1]), RATIO_RANGE[0]]  # free (top) .. severe
    for threshold in bounds[1:-1]:
        bar.ax.axhline(threshold, color="black", linewidth=0.8)
    labels = [f"{level}\n≥ {lo:g}" if i == 0 else f"{level}\n< {hi:g}" if i == len(bounds) - 2
              else f"{level}\n{lo:g}–{hi:g}" for i, (hi, lo, (_, level)) in
              enumerate(zip(bounds, bounds[1:], CONGESTION_LEVELS, strict=False))]
    bar.set_ticks([(hi + lo) / 2 for hi, lo in pairwise(bounds)], labels=labels)
    for r in range(1, len(grid)):  # a white line between zones
        if grid.index[r][0] != grid.index[r - 1][0]:
            ax.axhline(r - 0.5, color="white", linewidth=2)

    congested = frame.congestion_level.isin(CONGESTED).mean() * 100
    worst = ratio.idxmin()
    caption = (f"{len(frame):,} segment-hours observed; {congested:.1f} % of them heavy or severe (speed below "
               f"60 % of the limit). Slowest: {names.get(worst[0], worst[0])} {worst[1]} roads at {when(worst[2])}, "
               f"speed ratio {ratio.min():.2f}.")
    return Chart(name, title, render_png(fig), caption,
                 {"segment_hours": len(frame), "congested_share_pct": round(float(congested), 1),
                  "slowest_speed_ratio": round(float(ratio.min()), 2)})


# -- 3. air quality ---------------------------------------------------------------------------------------


def air_quality(data: ReportData) -> Chart:
    name, title = "air_quality", "Air quality by zone"
    frame = data.frame("environment")
    if frame.empty:
        return no_data(name, title, "environment data", data)
    names = zone_names()
    aqi = frame.pivot_table(index="hour", columns="zone_id", values="mean_aqi").reindex(data.hours)
    fig = Figure(figsize=(11, 5))
    ax = fig.add_subplot()
    colours = colormaps["tab10"]
    x = np.arange(len(data.hours))
    for i, zone in enumerate(aqi.columns):
        ax.plot(x, aqi[zone].to_numpy(), marker="o", markersize=4, linewidth=1.6, color=colours(i),
                label=names.get(zone, zone))
    top = max(float(np.nanmax(aqi.to_numpy())) * 1.12, AQI_ALERT * 1.25)
    ax.axhspan(AQI_ALERT, top, color="#d62728", alpha=0.06)
    ax.axhline(AQI_ALERT, color="#d62728", linestyle="--", linewidth=1.4,
               label=f"alert threshold\n(AQI {AQI_ALERT}: unhealthy\nfor sensitive groups)")
    ax.set_ylim(0, top)
    hour_axis(ax, data.hours)
    ax.set_xlabel("hour (UTC)")
    ax.set_ylabel("mean air-quality index (US EPA AQI)")
    ax.set_title(f"{title} — hourly mean AQI at each zone's station", fontsize=12, loc="left")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(title="zone", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)

    peak = frame.loc[frame.mean_aqi.idxmax()]
    over = frame.groupby("zone_id").minutes_over_aqi_alert.sum()
    over = over[over > 0].sort_values(ascending=False)
    zones_over = ", ".join(f"{names.get(z, z)} {m:,} min" for z, m in over.items()) or "none"
    caption = (f"Highest hourly mean AQI: {peak.mean_aqi:.1f} in {names.get(peak.zone_id, peak.zone_id)} at "
               f"{when(peak.hour)} (highest single reading {int(frame.max_aqi.max())}). Minutes above the alert "
               f"threshold of {AQI_ALERT}: {int(over.sum()):,} in total ({zones_over}).")
    return Chart(name, title, render_png(fig), caption,
                 {"peak_mean_aqi": float(peak.mean_aqi), "max_aqi": int(frame.max_aqi.max()),
                  "minutes_over_aqi_alert": int(over.sum())})


# -- 4. bus headway regularity ---------------------------------------------------------------------------


def bus_regularity(data: ReportData) -> Chart:
    name, title = "bus_regularity", "Bus headway regularity by route"
    frame = data.frame("public_transport")
    if frame.empty:
        return no_data(name, title, "public transport data", data)
    routes = sorted(frame.route_id.unique())
    colours = colormaps["Dark2"]
    x = np.arange(len(data.hours))
    fig = Figure(figsize=(11, 8.5))
    cv_ax, mean_ax, gap_ax = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2, 2]})
    width = 0.8 / len(routes)
    for i, route in enumerate(routes):
        series = frame[frame.route_id == route].set_index("hour").reindex(data.hours)
        style = {"marker": "o", "markersize": 4, "linewidth": 1.6, "color": colours(i), "label": route}
        cv_ax.plot(x, series.headway_cv.to_numpy(dtype=float), **style)
        mean_ax.plot(x, series.mean_headway_min.to_numpy(dtype=float), **style)
        gap_ax.bar(x - 0.4 + width * (i + 0.5), series.service_gaps.fillna(0).to_numpy(dtype=float), width,
                   color=colours(i), label=route)
    cv_ax.set_title(f"{title} — headway: time between consecutive buses at a stop", fontsize=12, loc="left")
    cv_ax.set_ylabel("headway CV\n(0 = perfectly regular)")
    cv_ax.set_ylim(bottom=0)
    mean_ax.set_ylabel("mean headway (min)")
    mean_ax.set_ylim(bottom=0)
    gap_ax.set_ylabel(f"service gaps\n(headway > {GAP_FACTOR:g} x mean)")
    gap_ax.yaxis.get_major_locator().set_params(integer=True)
    for ax in (cv_ax, mean_ax, gap_ax):
        ax.grid(axis="y", alpha=0.3)
    hour_axis(gap_ax, data.hours)
    gap_ax.set_xlabel("hour (UTC)")
    cv_ax.legend(title="route", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.align_ylabels()

    per_route = pd.DataFrame({
        "cv": weighted_mean(frame, "headway_cv", "headways", ["route_id"]),
        "headway": weighted_mean(frame, "mean_headway_min", "headways", ["route_id"]),
        "gaps": frame.groupby("route_id").service_gaps.sum()})
    measured = per_route.dropna(subset=["cv"])
    gaps = int(frame.service_gaps.sum())
    if measured.empty:
        caption = f"No headways measured in the window; {gaps} service gaps."
    else:
        worst = measured.cv.idxmax()
        caption = (f"{frame.headways.sum():,} headways measured on {len(routes)} routes; {gaps:,} service gaps "
                   f"(a headway over {GAP_FACTOR:g} x the hour's mean). Least regular: route {worst}, mean headway "
                   f"{measured.headway[worst]:.1f} min with CV {measured.cv[worst]:.2f}; most regular: route "
                   f"{measured.cv.idxmin()}, CV {measured.cv.min():.2f}.")
    return Chart(name, title, render_png(fig), caption,
                 {"headways": int(frame.headways.sum()), "service_gaps": gaps,
                  **({"worst_route_cv": round(float(measured.cv.max()), 2)} if not measured.empty else {})})


# -- 5. weather impact -----------------------------------------------------------------------------------


def weather_impact(data: ReportData) -> Chart:
    name, title = "weather_impact", "Traffic and incidents by weather"
    frame = data.frame("weather_impact")
    if frame.empty:
        return no_data(name, title, "weather impact data", data)
    conditions = [c for c in WEATHER_CONDITIONS if c in set(frame.condition)]
    by = frame.groupby("condition")
    ratio = weighted_mean(frame, "mean_speed_ratio", "gps_fixes", ["condition"]).reindex(conditions)
    zone_hours = by.minutes.sum().reindex(conditions) / 60
    incidents = by.incidents_reported.sum().reindex(conditions)
    rate = incidents / zone_hours
    fig = Figure(figsize=(11, 4.2))
    speed_ax, incident_ax = fig.subplots(1, 2)
    palette = {"clear": "#f6c343", "cloudy": "#9e9e9e", "fog": "#b39ddb", "rain": "#4f8fd6",
               "heavy_rain": "#1f4e99", "snow": "#8fd3e8"}
    colours = [palette.get(c, "#777777") for c in conditions]
    speed_ax.bar(conditions, ratio.to_numpy(dtype=float), color=colours, edgecolor="#333333", linewidth=0.6)
    speed_ax.set_ylabel("mean speed / speed limit")
    speed_ax.set_title("How fast traffic flows", fontsize=11, loc="left")
    incident_ax.bar(conditions, rate.to_numpy(dtype=float), color=colours, edgecolor="#333333", linewidth=0.6)
    incident_ax.set_ylabel("incidents reported per zone-hour")
    incident_ax.set_title("How often incidents are reported", fontsize=11, loc="left")
    for ax, values in ((speed_ax, ratio), (incident_ax, rate)):
        ax.set_xlabel("weather condition (zone's station, minute by minute)")
        ax.grid(axis="y", alpha=0.3)
        for i, v in enumerate(values):
            if not np.isnan(v):
                ax.text(i, v, f"{v:.2f}", ha="center", va="bottom", fontsize=9)
        ax.margins(y=0.15)
    labels = [f"{c.replace('_', ' ')}\n{h:.1f} h" for c, h in zip(conditions, zone_hours)]
    for ax in (speed_ax, incident_ax):
        ax.set_xticks(range(len(conditions)), labels)
    fig.suptitle(f"{title} (under each bar: zone-hours observed with that weather)", fontsize=12, x=0.01,
                 ha="left")

    parts = [f"{c.replace('_', ' ')} {ratio[c]:.2f}" for c in conditions if not np.isnan(ratio[c])]
    caption = (f"Mean speed / limit by weather: {', '.join(parts) or 'no GPS fixes'}. Incidents reported: "
               f"{int(incidents.sum()):,} over {zone_hours.sum():.1f} zone-hours.")
    return Chart(name, title, render_png(fig), caption, {"incidents_reported": int(incidents.sum())})
