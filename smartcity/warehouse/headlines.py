"""One line per mart that a city manager reads ("Traffic: worst at 08:00, 7 road segments in severe ..."), from
the warehouse's BI views over hours of one day. The demo prints them; each line's numbers come from one SQL query
over the `bi` schema, so an analyst can run the same query in a BI tool and find the same figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from smartcity import reference
from smartcity.marts import CONGESTED
from smartcity.warehouse.sql import literal


@dataclass(frozen=True)
class Window:
    """Hours `first`..`last` (inclusive, UTC) of the day `day`."""

    day: date
    first: int
    last: int

    @property
    def params(self) -> dict:
        return {"day": self.day, "first": self.first, "last": self.last}


IN_WINDOW = "event_date = %(day)s AND event_hour BETWEEN %(first)s AND %(last)s"
RAIN = "('rain', 'heavy_rain')"
IS_CONGESTED = f"congestion_level IN ({', '.join(literal(level) for level in CONGESTED)})"
# the travel time index of segment-hours, weighted by their GPS fixes (cities weight by distance driven)


def count_where(condition: str) -> str:
    """count(*) FILTER (WHERE ...), in SQL that Redshift runs too (it has no FILTER clause)."""
    return f"sum(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def sum_where(expression: str, condition: str) -> str:
    return f"sum(CASE WHEN {condition} THEN {expression} END)"


def weighted_mean(value: str, weight: str) -> str:
    """The mean of `value` weighted by `weight` over the rows where `value` is known."""
    return f"sum({value} * {weight}) / nullif({sum_where(weight, f'{value} IS NOT NULL')}, 0)"


TTI = weighted_mean("travel_time_index", "gps_fixes")


def _plain(value):
    """PostgreSQL numerics (sums are Decimal) as int when whole, else float, for formatting."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _rows(cur, sql: str, window: Window, **params) -> list[tuple]:
    cur.execute(sql, {**window.params, **params})
    return [tuple(_plain(v) for v in row) for row in cur.fetchall()]


def _zone_name(zone_id: str) -> str:
    return next((z["zone_name"] for z in reference.zones().to_pylist() if z["zone_id"] == zone_id), zone_id)


def traffic(cur, window: Window) -> str:
    """The hour with the most segments in heavy or severe congestion; its zone with the most; the travel time
    index of that hour against the whole window."""
    congested = count_where(IS_CONGESTED)
    worst = _rows(cur, f"""
        SELECT event_hour, {count_where("congestion_level = 'severe'")},
               {count_where("congestion_level = 'heavy'")}, {TTI}
        FROM bi.traffic_congestion WHERE {IN_WINDOW}
        GROUP BY event_hour ORDER BY {congested} DESC, 2 DESC, 1 LIMIT 1""", window)
    if not worst:
        return "Traffic: no traffic data in the window"
    hour, severe, heavy, tti = worst[0]
    overall = _rows(cur, f"SELECT {TTI} FROM bi.traffic_congestion WHERE {IN_WINDOW}", window)[0][0]
    if severe + heavy == 0:
        return f"Traffic: no road segment in heavy or severe congestion; travel time index {_index(overall)} overall"
    zone = _rows(cur, f"""
        SELECT zone_id, count(*) FROM bi.traffic_congestion
        WHERE {IN_WINDOW} AND event_hour = %(worst)s AND {IS_CONGESTED}
        GROUP BY zone_id ORDER BY 2 DESC, 1 LIMIT 1""", window, worst=hour)[0]
    return (f"Traffic: worst at {hour:02d}:00, {severe} road segments in severe and {heavy} in heavy congestion "
            f"(most in {_zone_name(zone[0])}: {zone[1]}); travel time index {_index(tti)} that hour, "
            f"{_index(overall)} overall")


def _index(value) -> str:
    return "unknown" if value is None else f"{value:.2f}"


def environment(cur, window: Window) -> str:
    """The zone-hour with the worst mean air quality, minutes over the alert level, and the rain."""
    worst = _rows(cur, f"""
        SELECT zone_name, event_hour, mean_aqi FROM bi.environment WHERE {IN_WINDOW}
        ORDER BY mean_aqi DESC, zone_name, event_hour LIMIT 1""", window)
    if not worst:
        return "Environment: no weather station readings in the window"
    zone, hour, aqi = worst[0]
    over, rain = _rows(cur, f"""
        SELECT coalesce(sum(minutes_over_aqi_alert), 0), coalesce(max(precipitation_mm), 0)
        FROM bi.environment WHERE {IN_WINDOW}""", window)[0]
    line = (f"Environment: air worst in {zone} at {hour:02d}:00 (mean AQI {aqi:.0f}), {over} zone-minutes above "
            f"the alert level (AQI 100)")
    if rain <= 0:
        return line + "; no rain"
    wettest = _rows(cur, f"""
        SELECT zone_name, event_hour, precipitation_mm FROM bi.environment WHERE {IN_WINDOW}
        ORDER BY precipitation_mm DESC, zone_name, event_hour LIMIT 1""", window)[0]
    return line + f"; rain heaviest in {wettest[0]} at {wettest[1]:02d}:00 ({wettest[2]:.1f} mm in the hour)"


def weather_impact(cur, window: Window) -> str:
    """Traffic speed relative to the limit in rain against dry minutes, and the incidents reported in rain."""
    rows = _rows(cur, f"""
        SELECT condition IN {RAIN}, sum(mean_speed_ratio * gps_fixes) / nullif(sum(gps_fixes), 0),
               sum(incidents_reported), sum(minutes)
        FROM bi.weather_impact WHERE {IN_WINDOW} GROUP BY 1""", window)
    by_rain = {wet: (ratio, incidents, minutes) for wet, ratio, incidents, minutes in rows}
    if True not in by_rain:
        return "Weather impact: no rain in the window"
    wet, dry = by_rain[True], by_rain.get(False, (None, 0, 0))
    incidents = wet[1] + dry[1]
    speeds = (f"traffic moved at {wet[0]:.0%} of the speed limit in rain against {dry[0]:.0%} in dry weather"
              if wet[0] is not None and dry[0] is not None else "too few GPS fixes to compare speeds")
    return (f"Weather impact: {speeds}; {wet[1]} of {incidents} incidents (those in a minute with a reading) were "
            f"reported in rain "
            f"({wet[2]} of {wet[2] + dry[2]} zone-minutes)")


def incident_response(cur, window: Window) -> str:
    """Incidents reported, resolved and still open; response times (reported -> on scene) median and p90."""
    n, collisions, severe, resolved, median, p90 = _rows(cur, f"""
        SELECT count(*), {count_where("incident_type = 'collision'")}, {count_where("severity >= 4")},
               count(resolved_at), percentile_cont(0.5) WITHIN GROUP (ORDER BY minutes_to_scene),
               percentile_cont(0.9) WITHIN GROUP (ORDER BY minutes_to_scene)
        FROM bi.incident_response WHERE {IN_WINDOW}""", window)[0]
    if n == 0:
        return "Incidents: none reported in the window"
    times = (f"response time (reported -> on scene) median {median:.1f} min, 90th percentile {p90:.1f} min"
             if median is not None else "no unit on scene yet")
    return (f"Incidents: {n} reported ({collisions} collisions, {severe} of severity 4-5), {resolved} resolved, "
            f"{n - resolved} still open; {times}")


def public_transport(cur, window: Window) -> str:
    """Buses and routes in service, the city's mean headway, and the least regular route (highest headway CV,
    weighted by headways) with its bunching and excess wait."""
    rows = _rows(cur, f"""
        SELECT route_id, {weighted_mean("headway_cv", "headways")}, sum(bunched_headways),
               {weighted_mean("excess_wait_min", "headways")}, {weighted_mean("mean_headway_min", "headways")},
               sum(headways), max(buses)
        FROM bi.public_transport WHERE {IN_WINDOW} GROUP BY route_id""", window)
    if not rows:
        return "Buses: no bus telemetry in the window"
    measured = [r for r in rows if r[1] is not None]
    buses = sum(r[6] for r in rows)
    if not measured:
        return f"Buses: {buses} buses on {len(rows)} routes; no headways measured"
    headway = sum(r[4] * r[5] for r in measured) / sum(r[5] for r in measured)
    route, cv, bunched, excess = min(measured, key=lambda r: (-r[1], r[0]))[:4]
    return (f"Buses: {buses} buses on {len(rows)} routes, mean headway {headway:.1f} min; least regular {route} "
            f"(headway CV {cv:.2f}, {bunched} bunched headways, excess wait {excess:.1f} min)")


HEADLINES = {"traffic_congestion": traffic, "environment": environment, "weather_impact": weather_impact,
             "incident_response": incident_response, "public_transport": public_transport}


def headlines(conn, window: Window) -> list[str]:
    """One line per mart, in the order of HEADLINES."""
    with conn.cursor() as cur:
        return [line(cur, window) for line in HEADLINES.values()]
