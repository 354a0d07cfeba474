"""The dashboard's charts, in Altair (Vega-Lite, drawn by the browser: tooltips, zoom, legend selection).

They show what the city report draws (`smartcity.report`), with the report's congestion colours, road widths
and map geometry: each directed road segment on the right-hand side of its street, incidents on top.
Every mark carries a description (its ARIA label), so a screen reader, or a test, can read the map.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from smartcity.contracts import INCIDENT_TYPES, WEATHER_CONDITIONS
from smartcity.marts import AQI_ALERT, CONGESTION_LEVELS, GAP_FACTOR
from smartcity.report.charts import LEVEL_COLOURS, NO_DATA, ROAD_CLASSES, zone_names
from smartcity.report.citymap import INCIDENT_STYLE, ROAD_WIDTHS, incident_positions, segment_lines, to_local

NO_DATA_LEVEL = "no data"
LEVELS = [name for _, name in CONGESTION_LEVELS]  # free .. severe
MAP_WIDTH = 520


def level_scale() -> alt.Scale:
    return alt.Scale(domain=[*LEVELS, NO_DATA_LEVEL], range=[*(LEVEL_COLOURS[n] for n in LEVELS), NO_DATA])


def ratio_scale() -> alt.Scale:
    """Speed ratio -> the colour of its congestion level (the traffic mart's thresholds)."""
    bands = sorted(CONGESTION_LEVELS)  # severe (0.0) .. free (0.8)
    return alt.Scale(type="threshold", domain=[t for t, _ in bands[1:]], range=[LEVEL_COLOURS[n] for _, n in bands])


def level_legend_labels() -> str:
    """A Vega expression labelling each level with its band of speed / limit, as the report's map legend does."""
    text = {level: f"{level} (ratio ≥ {t:g})" if t else f"{level} (ratio < {CONGESTION_LEVELS[-2][0]:g})"
            for t, level in CONGESTION_LEVELS}
    return " : ".join(f"datum.label == '{level}' ? '{label}'" for level, label in text.items()) + " : datum.label"


def titled(chart, title: str, **properties):
    """The chart with its title, which is also its accessible name."""
    return chart.properties(title=title, description=title, **properties)


# -- the city map ------------------------------------------------------------------------------------------------

def road_network(levels: pd.DataFrame) -> pd.DataFrame:
    """The report's map geometry (metres, each direction on its side of the street) with `levels` joined on
    segment_id (a `congestion` column, plus whatever the tooltips show); segments without a level are "no data"."""
    seg = segment_lines().reset_index()[["segment_id", "zone_id", "road_class", "speed_limit_kmh", "x0", "y0", "x1", "y1"]]
    extra = levels.drop(columns=[c for c in ("zone_id", "road_class", "speed_limit_kmh") if c in levels.columns])
    roads = seg.merge(extra, on="segment_id", how="left")
    roads["level"] = roads.congestion.fillna(NO_DATA_LEVEL)
    roads["zone"] = roads.zone_id.map(zone_names())
    roads["width"] = roads.road_class.map(ROAD_WIDTHS)
    roads["label"] = (roads.segment_id + " (" + roads.road_class + " road, " + roads.zone + "): " + roads.level)
    return roads


def place_live_incidents(incidents: pd.DataFrame) -> pd.DataFrame:
    """Live incidents where they were reported (their coordinates), in the map's metres."""
    x, y = to_local(incidents.latitude.to_numpy(dtype=float), incidents.longitude.to_numpy(dtype=float))
    return incidents.assign(x=x, y=y)


def place_mart_incidents(incidents: pd.DataFrame) -> pd.DataFrame:
    """Incidents of the incident mart, placed as the report places them (middle of their segment, or around their
    zone's centre)."""
    return incident_positions(incidents, segment_lines())


ROAD_TOOLTIP = ["segment_id", "zone", "road_class", "level", "gps_fixes", "mean_speed_kmh", "speed_ratio",
                "camera_vehicles"]


def city_map(roads: pd.DataFrame, incidents: pd.DataFrame, title: str) -> alt.LayerChart:
    """Road segments (`road_network`) coloured by congestion level, incidents (placed: `x`, `y`) on top; an
    incident's other columns are its tooltip."""
    xmin, xmax = min(roads.x0.min(), roads.x1.min()) - 200, max(roads.x0.max(), roads.x1.max()) + 200
    ymin, ymax = min(roads.y0.min(), roads.y1.min()) - 200, max(roads.y0.max(), roads.y1.max()) + 200
    x = alt.X("x0:Q", scale=alt.Scale(domain=[xmin, xmax], nice=False, zero=False), axis=None)
    y = alt.Y("y0:Q", scale=alt.Scale(domain=[ymin, ymax], nice=False, zero=False), axis=None)
    road_order = alt.Order("drawn:Q")  # observed roads over grey ones
    lines = alt.Chart(roads.assign(drawn=(roads.level != NO_DATA_LEVEL).astype(int))).mark_rule().encode(
        x=x, y=y, x2="x1:Q", y2="y1:Q", order=road_order,
        color=alt.Color("level:N", scale=level_scale(), title="road: speed / limit",
                        legend=alt.Legend(labelExpr=level_legend_labels())),
        strokeWidth=alt.StrokeWidth("width:Q", scale=None), description="label:N",
        tooltip=[c for c in ROAD_TOOLTIP if c in roads.columns])
    layers = [lines]
    if not incidents.empty:
        tooltip = [c for c in incidents.columns if c not in ("x", "y")]
        incidents = incidents.assign(label=incidents.incident_id + " " + incidents.incident_type + ", "
                                     + incidents.status)
        types = alt.Scale(domain=list(INCIDENT_TYPES), range=[INCIDENT_STYLE[t][1] for t in INCIDENT_TYPES])
        points = alt.Chart(incidents).mark_point(filled=True, stroke="black", strokeWidth=1, opacity=0.95).encode(
            x=alt.X("x:Q", scale=alt.Scale(domain=[xmin, xmax])), y=alt.Y("y:Q", scale=alt.Scale(domain=[ymin, ymax])),
            fill=alt.Fill("incident_type:N", title="incident type", scale=types),
            size=alt.Size("severity:Q", scale=alt.Scale(domain=[1, 5], range=[60, 260]), legend=None),
            description="label:N", tooltip=tooltip)
        layers.append(points)
    height = round(MAP_WIDTH * (ymax - ymin) / (xmax - xmin))
    return titled(alt.layer(*layers), title, width=MAP_WIDTH, height=height).interactive()


# -- the hourly marts ---------------------------------------------------------------------------------------------

HOUR = alt.X("hour:O", title="hour (UTC)", axis=alt.Axis(labelAngle=0))


def with_hour(frame: pd.DataFrame) -> pd.DataFrame:
    """`event_hour` as the label the report's axes use (HH:00)."""
    return frame.assign(hour=frame.event_hour.map(lambda h: f"{h:02d}:00"))


def congestion_heatmap(frame: pd.DataFrame) -> alt.LayerChart:
    """Zone · road class by hour, coloured by the level of the fix-weighted speed ratio (the report's heatmap)."""
    names = zone_names()
    data = with_hour(frame)
    data = data.assign(row=data.zone_id.map(names) + " · " + data.road_class,
                       order=data.zone_id + data.road_class.map(lambda c: str(ROAD_CLASSES.index(c))))
    data["label"] = data.row + " at " + data.hour + ": speed / limit " + data.speed_ratio.map(
        lambda r: "no data" if pd.isna(r) else f"{r:.2f}")
    order = data.sort_values("order").row.drop_duplicates().tolist()
    base = alt.Chart(data).encode(x=HOUR, y=alt.Y("row:N", sort=order, title=None,
                                                  axis=alt.Axis(labelLimit=220, labelOverlap=False)))
    cells = base.mark_rect().encode(
        color=alt.Color("speed_ratio:Q", scale=ratio_scale(), title="speed / limit"), description="label:N",
        tooltip=["row", "hour", alt.Tooltip("speed_ratio:Q", format=".2f"), "gps_fixes", "segments",
                 "congested_segments"])
    text = base.mark_text(fontSize=10, aria=False).encode(text=alt.Text("speed_ratio:Q", format=".2f"))
    return titled(alt.layer(cells, text), "Congestion by zone, road class and hour: mean speed / speed limit over all "
                  "GPS fixes", height=alt.Step(22))


def air_quality(frame: pd.DataFrame) -> alt.LayerChart:
    pick = alt.selection_point(fields=["zone_name"], bind="legend")
    lines = alt.Chart(with_hour(frame)).mark_line(point=True).encode(
        x=HOUR, y=alt.Y("mean_aqi:Q", title="mean air-quality index (US EPA)"),
        color=alt.Color("zone_name:N", title="zone"), opacity=alt.condition(pick, alt.value(1), alt.value(0.15)),
        tooltip=["zone_name", "hour", alt.Tooltip("mean_aqi:Q", format=".1f"), "max_aqi",
                 "minutes_over_aqi_alert"]).add_params(pick)
    alert = alt.Chart(pd.DataFrame({"aqi": [AQI_ALERT]})).mark_rule(color="#d62728", strokeDash=[6, 4]).encode(
        y="aqi:Q")
    return titled(alt.layer(lines, alert), f"Air quality by zone: hourly mean AQI (dashed: the alert threshold, AQI "
                  f"{AQI_ALERT})", height=360)


def bus_regularity(frame: pd.DataFrame) -> alt.VConcatChart:
    pick = alt.selection_point(fields=["route_id"], bind="legend")
    base = alt.Chart(with_hour(frame)).encode(x=HOUR, color=alt.Color("route_id:N", title="route"),
                                   opacity=alt.condition(pick, alt.value(1), alt.value(0.15)),
                                   tooltip=["route_id", "hour", "buses", "headways",
                                            alt.Tooltip("headway_cv:Q", format=".2f"),
                                            alt.Tooltip("mean_headway_min:Q", format=".1f"), "service_gaps"])
    cv = base.mark_line(point=True).encode(y=alt.Y("headway_cv:Q", title="headway CV (0 = regular)")).add_params(pick)
    mean = base.mark_line(point=True).encode(y=alt.Y("mean_headway_min:Q", title="mean headway (min)"))
    gaps = base.mark_bar().encode(xOffset="route_id:N",
                                  y=alt.Y("service_gaps:Q", title=f"service gaps (> {GAP_FACTOR:g} x mean)"))
    return titled(alt.vconcat(cv.properties(height=200), mean.properties(height=140), gaps.properties(height=140)),
                  "Bus headway regularity by route: the time between consecutive buses at a stop")


def weather_impact(frame: pd.DataFrame) -> alt.HConcatChart:
    conditions = [c for c in WEATHER_CONDITIONS if c in set(frame.condition)]
    base = alt.Chart(frame).encode(x=alt.X("condition:N", sort=conditions, title="weather condition",
                                         axis=alt.Axis(labelAngle=0)),
                                   color=alt.Color("condition:N", sort=conditions, legend=None),
                                   tooltip=["condition", alt.Tooltip("speed_ratio:Q", format=".2f"),
                                            alt.Tooltip("zone_hours:Q", format=".1f"), "incidents",
                                            alt.Tooltip("incidents_per_zone_hour:Q", format=".2f")])
    speed = base.mark_bar().encode(y=alt.Y("speed_ratio:Q", title="mean speed / speed limit")).properties(
        title="How fast traffic flows", width=320, height=240)
    rate = base.mark_bar().encode(y=alt.Y("incidents_per_zone_hour:Q", title="incidents per zone-hour")).properties(
        title="How often incidents are reported", width=320, height=240)
    return titled(alt.hconcat(speed, rate), "Traffic and incidents by weather")
