"""The city map: road segments from the reference geometry coloured by their congestion in the latest hour,
incidents of the window on top (shape and colour by type, size by severity).

The incident mart places an incident by zone and road segment, not by coordinates, so an incident is drawn
at the middle of its segment (on the side of its direction of travel), or at its zone's centre when it is
off-road; several at one place fan out around it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from smartcity import reference
from smartcity.contracts import INCIDENT_TYPES
from smartcity.marts import CONGESTION_LEVELS
from smartcity.report.charts import CONGESTED, LEVEL_COLOURS, NO_DATA, Chart, no_data, render_png, when, zone_names
from smartcity.report.data import ReportData

ROAD_WIDTHS = {"ring": 3.2, "arterial": 2.6, "residential": 1.5}
INCIDENT_STYLE = {  # type -> (marker, face colour)
    "collision": ("X", "#7b2cbf"), "breakdown": ("s", "#1f78b4"), "fire": ("^", "#e31a1c"),
    "medical": ("P", "#ffffff"), "hazard": ("D", "#111111")}
SIDE_M = 28.0  # a directed segment is drawn this far to the right of the street's centre line
SPREAD_M = 75.0  # incidents at the same place fan out by about this much


def marker_area(severity) -> float:
    """Marker area (pt²) for severity 1..5."""
    return 30.0 + 40.0 * float(severity)


def to_local(lat, lon):
    """Local metric coordinates (m) from latitude/longitude, and back."""
    lat0, lon0 = reference.origin()
    to_x, to_y = reference.metres_per_degree()
    return (np.asarray(lon) - lon0) * to_x, (np.asarray(lat) - lat0) * to_y


def segment_lines() -> pd.DataFrame:
    """Reference segments in local metres, shifted to the right of their direction and shortened at the ends."""
    seg = reference.segments().to_pandas()
    x0, y0 = to_local(seg.start_lat, seg.start_lon)
    x1, y1 = to_local(seg.end_lat, seg.end_lon)
    length = np.hypot(x1 - x0, y1 - y0)
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    rx, ry = uy * SIDE_M, -ux * SIDE_M  # right-hand normal
    trim = 0.1 * length
    seg["x0"], seg["y0"] = x0 + rx + ux * trim, y0 + ry + uy * trim
    seg["x1"], seg["y1"] = x1 + rx - ux * trim, y1 + ry - uy * trim
    seg["mx"], seg["my"] = (seg.x0 + seg.x1) / 2, (seg.y0 + seg.y1) / 2
    return seg.set_index("segment_id")


def incident_positions(incidents: pd.DataFrame, seg: pd.DataFrame) -> pd.DataFrame:
    zones = reference.zones().to_pandas().set_index("zone_id")
    zx, zy = to_local(zones.zone_latitude, zones.zone_longitude)
    zones["x"], zones["y"] = zx, zy
    on_road = incidents.segment_id.notna() & incidents.segment_id.isin(seg.index)
    x = np.where(on_road, seg.mx.reindex(incidents.segment_id).to_numpy(),
                 zones.x.reindex(incidents.zone_id).to_numpy())
    y = np.where(on_road, seg.my.reindex(incidents.segment_id).to_numpy(),
                 zones.y.reindex(incidents.zone_id).to_numpy())
    placed = incidents.assign(x=x, y=y).dropna(subset=["x", "y"])
    k = placed.groupby(["x", "y"]).cumcount().to_numpy()  # the k-th incident at a place: golden-angle spiral
    placed["x"] = placed.x + SPREAD_M * np.sqrt(k) * np.cos(k * 2.39996)
    placed["y"] = placed.y + SPREAD_M * np.sqrt(k) * np.sin(k * 2.39996)
    return placed


def city_map(data: ReportData) -> Chart:
    name, title = "city_map", "City map: congestion and incidents"
    traffic, incidents = data.frame("traffic_congestion"), data.frame("incident_response")
    if traffic.empty and incidents.empty:
        return no_data(name, title, "traffic or incident data", data)
    seg = segment_lines()
    latest = traffic.hour.max() if not traffic.empty else None
    levels = (traffic[traffic.hour == latest].set_index("segment_id").congestion_level
              if latest is not None else pd.Series(dtype=str))
    seg["level"] = levels.reindex(seg.index)

    fig = Figure(figsize=(12.5, 8.2))
    ax = fig.add_subplot()
    names = zone_names()
    xmin, xmax = min(seg.x0.min(), seg.x1.min()) - 250, max(seg.x0.max(), seg.x1.max()) + 250
    ymin, ymax = min(seg.y0.min(), seg.y1.min()) - 250, max(seg.y0.max(), seg.y1.max()) + 250
    for zone in reference.zones().to_pylist():  # zone rectangles (outer zones are open-ended: clip to the map)
        (zx0, zx1), (zy0, zy1) = (to_local([zone["min_lat"], zone["max_lat"]], [zone["min_lon"], zone["max_lon"]]))
        zx0, zx1 = max(zx0, xmin), min(zx1, xmax)
        zy0, zy1 = max(zy0, ymin), min(zy1, ymax)
        ax.add_patch(Rectangle((zx0, zy0), zx1 - zx0, zy1 - zy0, fill=False, linestyle=":", linewidth=0.8,
                               edgecolor="#9a9a9a", zorder=0))
        cx, _ = to_local(zone["zone_latitude"], zone["zone_longitude"])
        ax.text(float(cx), float(zy1) - 60, names.get(zone["zone_id"], zone["zone_id"]), ha="center", va="top",
                fontsize=10, color="#555555", zorder=4,
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.75})
    for road_class, width in ROAD_WIDTHS.items():
        for level, colour in [(None, NO_DATA), *LEVEL_COLOURS.items()]:
            rows = seg[(seg.road_class == road_class) & (seg.level.isna() if level is None else seg.level == level)]
            lines = np.stack([rows[["x0", "y0"]].to_numpy(), rows[["x1", "y1"]].to_numpy()], axis=1)
            ax.add_collection(LineCollection(lines, colors=colour, linewidths=width, capstyle="butt",
                                             zorder=2 if level is None else 3))

    placed = incident_positions(incidents, seg) if not incidents.empty else incidents
    for kind in INCIDENT_TYPES:
        marker, face = INCIDENT_STYLE[kind]
        rows = placed[placed.incident_type == kind] if not placed.empty else placed
        if len(rows):
            ax.scatter(rows.x, rows.y, s=[marker_area(s) for s in rows.severity], marker=marker, c=face,
                       edgecolors="black", linewidths=0.8, alpha=0.9, zorder=5)
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_aspect("equal")
    ticks = np.arange(0, xmax, 1000)
    ax.set_xticks(ticks, [f"{t / 1000:g}" for t in ticks])
    ticks = np.arange(0, ymax, 1000)
    ax.set_yticks(ticks, [f"{t / 1000:g}" for t in ticks])
    ax.set_xlabel("km east of the south-west corner")
    ax.set_ylabel("km north")
    hour = f"at {when(latest)}" if latest is not None else "(no traffic data)"
    ax.set_title(f"Congestion {hour} (latest hour); incidents reported {when(data.start)} – {when(data.end)}",
                 fontsize=12, loc="left")

    # Legends in the figure's right-hand margin (kept clear of the map).
    fig.subplots_adjust(left=0.06, right=0.76, top=0.95, bottom=0.07)
    fig.legend([Line2D([], [], color=c, linewidth=3) for c in [*LEVEL_COLOURS.values(), NO_DATA]],
               [*(f"{level} (ratio ≥ {t:g})" if t else f"{level} (ratio < {CONGESTION_LEVELS[-2][0]:g})"
                  for t, level in CONGESTION_LEVELS), "no GPS data"],
               title="road: speed / limit", loc="upper left", bbox_to_anchor=(0.78, 0.95), frameon=False)
    fig.legend([Line2D([], [], linestyle="", marker=m, markerfacecolor=f, markeredgecolor="black", markersize=9)
                for m, f in INCIDENT_STYLE.values()], list(INCIDENT_STYLE),
               title="incident type", loc="upper left", bbox_to_anchor=(0.78, 0.62), frameon=False)
    fig.legend([Line2D([], [], linestyle="", marker="o", markerfacecolor="#bbbbbb", markeredgecolor="black",
                       markersize=math.sqrt(marker_area(s))) for s in (1, 3, 5)],
               ["1 (minor)", "3", "5 (critical)"], title="incident severity", loc="upper left",
               bbox_to_anchor=(0.78, 0.33), frameon=False, labelspacing=1.3)
    fig.text(0.78, 0.07, "Directed roads are drawn on the right-hand\nside of the street. Off-road incidents\n"
             "are drawn around their zone's centre.", fontsize=8.5, color="#555555", va="bottom")

    congested = int(seg.level.isin(CONGESTED).sum())
    by_type = incidents.incident_type.value_counts() if not incidents.empty else pd.Series(dtype=int)
    kinds = ", ".join(f"{by_type[k]} {k}" for k in INCIDENT_TYPES if k in by_type) or "none"
    severe = int((incidents.severity >= 4).sum()) if not incidents.empty else 0
    to_scene = incidents.minutes_to_scene.dropna() if not incidents.empty else pd.Series(dtype=float)
    response = f"; mean time to scene {to_scene.mean():.1f} min" if len(to_scene) else ""
    traffic_text = (f"Heavily or severely congested at {when(latest)}: {congested} of {int(seg.level.notna().sum())} "
                    "observed road segments. ") if latest is not None else ""
    caption = (f"{traffic_text}Incidents reported in the window: {len(incidents):,} ({kinds}), {severe} of "
               f"severity 4-5{response}.")
    return Chart(name, title, render_png(fig), caption,
                 {"incidents": len(incidents), "severe_incidents": severe, "congested_segments_latest": congested})
