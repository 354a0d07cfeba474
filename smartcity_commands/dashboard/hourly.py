"""The Hourly marts page: the city report's charts, interactive, over a chosen day and hours, from the
warehouse's `bi` views. Each chart's caption is the line the demo prints for its mart over the same hours."""

from __future__ import annotations

import streamlit as st

from smartcity_commands.dashboard import charts, queries
from smartcity_commands.dashboard.source import shown_errors, warehouse
from smartcity.marts import ENVIRONMENT, INCIDENT_RESPONSE, PUBLIC_TRANSPORT, TRAFFIC_CONGESTION, WEATHER_IMPACT
from smartcity.warehouse.headlines import Window

NO_MARTS = ("no hourly marts in the warehouse yet: materialize them (`smartcity demo`, or the marts group in the "
            "Dagster UI)")


def page() -> None:
    st.title("Hourly marts")
    with shown_errors(), queries.reading(warehouse()) as cur:
        days = queries.mart_days(cur)
        if not days:
            st.info(NO_MARTS)
            return
        left, right = st.columns([1, 3])
        day = left.selectbox("Day (UTC)", days, format_func=lambda d: f"{d:%a %d %b %Y}")
        first, last = queries.mart_hours(cur, day)
        first, last = right.slider("Hours (UTC)", 0, 23, (first, last), format="%02d:00")
        show(cur, Window(day, first, last), queries.mart_views(cur))


def caption(mart: str, window: Window) -> str:
    """The demo's line for a mart (`smartcity.warehouse.headlines`), read in a transaction of its own: a line that
    cannot be computed (say, SQL a warehouse does not speak) leaves the charts standing."""
    try:
        with queries.reading(warehouse()) as cur:
            return queries.headline(cur, mart, window)
    except Exception as exc:  # a summary line must never take the page down
        return f"(no summary line for {mart}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"


def show(cur, window: Window, views: set[str]) -> None:
    def section(title: str, mart: str, frame_of, chart_of) -> None:
        st.subheader(title)
        st.caption(caption(mart, window))
        frame = frame_of(cur, window) if mart in views else None
        if frame is None or frame.empty:
            st.write(f"No {mart.replace('_', ' ')} rows for these hours.")
        else:
            st.altair_chart(chart_of(frame))

    section("Traffic congestion", TRAFFIC_CONGESTION.name, queries.congestion_by_zone, charts.congestion_heatmap)

    st.subheader("City map: congestion and incidents")
    st.caption(caption(INCIDENT_RESPONSE.name, window))
    hour = st.select_slider("Congestion of the hour (UTC)", list(range(window.first, window.last + 1)),
                            value=window.last, format_func=lambda h: f"{h:02d}:00")
    if {TRAFFIC_CONGESTION.name, INCIDENT_RESPONSE.name} <= views:
        levels = queries.congestion_in_hour(cur, window.day, hour)
        incidents = queries.incidents_reported(cur, window)
        placed = charts.place_mart_incidents(incidents)[["incident_id", "incident_type", "severity", "status",
                                                          "zone_name", "minutes_to_scene", "x", "y"]]
        st.altair_chart(charts.city_map(charts.road_network(levels), placed,
                                        f"Road segments by congestion at {hour:02d}:00 UTC; incidents reported "
                                        f"{window.first:02d}:00-{window.last:02d}:59"), width="content")

    section("Air quality", ENVIRONMENT.name, queries.air_quality, charts.air_quality)
    section("Bus regularity", PUBLIC_TRANSPORT.name, queries.bus_regularity, charts.bus_regularity)
    section("Weather impact", WEATHER_IMPACT.name, queries.weather_impact, charts.weather_impact)
