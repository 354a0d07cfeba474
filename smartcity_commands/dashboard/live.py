"""The Live page: what the stream's micro-batches left in the warehouse's `live` tables, read again every few
seconds without reloading the page (a Streamlit fragment that reruns on a timer)."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import streamlit as st

from smartcity_commands.dashboard import charts, queries
from smartcity_commands.dashboard.source import shown_errors, warehouse
from smartcity.live.tables import INCIDENT_HOURS, WINDOWS_MIN
from smartcity.marts import CONGESTED
from smartcity.report.charts import zone_names

REFRESH_S = 3
NO_LIVE_DATA = "no live data yet: is `smartcity stream` running?"


def page() -> None:
    st.title("Live city operations")
    window = st.radio("Traffic window (event time)", WINDOWS_MIN, index=len(WINDOWS_MIN) - 1, horizontal=True,
                      format_func=lambda m: f"last {m} min")
    panels(window)


@st.fragment(run_every=REFRESH_S)
def panels(window_min: int) -> None:
    with shown_errors(), queries.reading(warehouse()) as cur:
        show(queries.live_snapshot(cur, window_min))


def show(snapshot: queries.LiveSnapshot | None) -> None:
    if snapshot is None:
        st.info(NO_LIVE_DATA)
        return
    st.markdown(clock_line(snapshot))
    seg, incidents, zones, routes = snapshot.segments, snapshot.incidents, snapshot.zones, snapshot.routes
    observed = seg.congestion.notna()
    columns = st.columns(5)
    columns[0].metric("Road segments observed", f"{int(observed.sum())} of {len(seg)}")
    columns[1].metric("Heavy or severe", int(seg.congestion.isin(CONGESTED).sum()))
    columns[2].metric("Open incidents", len(incidents))
    columns[3].metric("Zones under an AQI alert", int(zones.aqi_alert.fillna(False).sum()))
    columns[4].metric("Bus routes in service", len(routes))

    left, right = st.columns([5, 2])
    with left:
        shown = charts.place_live_incidents(incidents)[["incident_id", "incident_type", "severity", "status",
                                                         "minutes_since_reported", "unit_id", "x", "y"]]
        st.altair_chart(charts.city_map(charts.road_network(seg), shown, f"Congestion in the last "
                                        f"{snapshot.window_min} min of event time, open incidents"), width="content")
        st.caption("Each direction of a street is drawn on its right-hand side. Incidents: marker size by severity "
                   "(1-5); hover for details, scroll to zoom, drag to pan.")
    with right:
        st.subheader("Road segments by congestion level")
        st.table(level_counts(seg), hide_index=True)
        st.subheader("Bus routes")
        st.caption(f"Over the last {max(WINDOWS_MIN)} minutes of event time; headway = cycle time / buses.")
        st.table(bus_table(routes), hide_index=True)

    st.subheader(f"Open incidents ({len(incidents)})")
    st.caption(f"Age: minutes since the incident was reported, by the live clock; {snapshot.resolved} resolved in "
               f"the last {INCIDENT_HOURS} h are not listed.")
    if incidents.empty:
        st.write("No open incidents.")
    else:
        st.table(incident_table(incidents), hide_index=True)
    st.subheader("Air quality and weather by zone")
    st.table(zone_table(zones), hide_index=True)


def clock_line(snapshot: queries.LiveSnapshot) -> str:
    line = f"**as of {snapshot.clock:%H:%M:%S} event time** ({snapshot.clock:%d %b %Y}, UTC)"
    if snapshot.last_write is not None:
        ago = (datetime.now(timezone.utc) - snapshot.last_write).total_seconds()
        line += f" · the stream last wrote at {snapshot.last_write:%H:%M:%S} UTC ({ago:,.0f} s ago)"
    return line + f" · refreshed every {REFRESH_S} s"


def _time(value) -> str:
    return "" if value is None or pd.isna(value) else f"{value:%H:%M:%S}"


def _number(value, digits: int = 1) -> str:
    return "" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def level_counts(seg: pd.DataFrame) -> pd.DataFrame:
    levels = seg.congestion.fillna(charts.NO_DATA_LEVEL)
    counts = levels.value_counts().reindex([*charts.LEVELS, charts.NO_DATA_LEVEL], fill_value=0)
    return pd.DataFrame({"Level": counts.index, "Road segments": counts.to_numpy(),
                         "Share": [f"{n / len(seg):.0%}" for n in counts]})


def incident_table(incidents: pd.DataFrame) -> pd.DataFrame:
    names = zone_names()
    return pd.DataFrame({
        "Incident": incidents.incident_id, "Type": incidents.incident_type, "Severity": incidents.severity,
        "Status": incidents.status.str.replace("_", " "),
        "Age (min)": incidents.minutes_since_reported.map(lambda v: _number(v, 0)),
        "Reported": incidents.reported_at.map(_time), "Unit": incidents.unit_id.fillna(""),
        "Zone": incidents.zone_id.map(names), "Road segment": incidents.segment_id.fillna("off-road")})


def zone_table(zones: pd.DataFrame) -> pd.DataFrame:
    names = zone_names()
    return pd.DataFrame({
        "Zone": zones.zone_id.map(names), "Weather": zones.condition.str.replace("_", " "),
        "Temperature (°C)": zones.temperature_c.map(_number), "Rain (mm/h)": zones.precipitation_mm_h.map(_number),
        "Wind (m/s)": zones.wind_speed_ms.map(_number), "AQI": zones.air_quality_index,
        "PM2.5 (µg/m³)": zones.pm25_ugm3.map(_number),
        "Alert": zones.aqi_alert.map(lambda a: "AQI alert" if a else ""), "Reading at": zones.reading_at.map(_time)})


def bus_table(routes: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"Route": routes.route_id, "Buses": routes.buses,
                         "Mean speed (km/h)": routes.mean_speed_kmh.map(_number),
                         "Headway (min)": routes.headway_min.map(_number)})
