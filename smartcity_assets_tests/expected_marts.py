"""The marts computed independently, in plain pandas, from transformed rows (every column, from the column
definitions the marts document), for the tests to compare with what Spark, the lake and the warehouse hold.
Nothing here calls the project's mart code."""

from __future__ import annotations

import numpy as np
import pandas as pd

from smartcity import reference

ORDER = ["reported", "dispatched", "on_scene", "resolved"]


def _level(ratio: float) -> str:
    """free >= 0.8, moderate >= 0.6, heavy >= 0.4, else severe (as documented on the column)."""
    return "free" if ratio >= 0.8 else "moderate" if ratio >= 0.6 else "heavy" if ratio >= 0.4 else "severe"


def traffic_congestion(gps: pd.DataFrame, cameras: pd.DataFrame | None) -> pd.DataFrame:
    gps = gps[gps.segment_id.notna()]
    segments = reference.segments().to_pandas().set_index("segment_id")
    out = gps.groupby("segment_id").agg(gps_fixes=("event_id", "size"), vehicles=("vehicle_id", "nunique"),
                                        mean_speed_kmh=("speed_kmh", "mean"),
                                        p85_speed_kmh=("speed_kmh", lambda s: np.percentile(s, 85)))
    out["mean_speed_kmh"] = out.mean_speed_kmh.round(2)
    out["p85_speed_kmh"] = out.p85_speed_kmh.round(2)
    for column in ("zone_id", "road_class", "speed_limit_kmh"):
        out[column] = segments.loc[out.index, column].values
    out["speed_ratio"] = (out.mean_speed_kmh / out.speed_limit_kmh).round(3)
    out["congestion_level"] = out.speed_ratio.map(_level)
    out["travel_time_index"] = (out.speed_limit_kmh / out.mean_speed_kmh.where(out.mean_speed_kmh > 0)).round(2)
    counted = cameras.groupby("segment_id").vehicle_count.sum() if cameras is not None and len(cameras) else None
    out["camera_vehicles"] = counted.reindex(out.index) if counted is not None else np.nan
    return out.reset_index().sort_values("segment_id").reset_index(drop=True)


def environment(weather: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for zone, w in weather.groupby("zone_id"):
        counts = w.condition.value_counts()
        rows.append({"zone_id": zone, "zone_name": w.zone_name.iloc[0], "readings": len(w),
                     "mean_temperature_c": round(w.temperature_c.mean(), 2),
                     "mean_humidity_pct": round(w.humidity_pct.mean(), 2),
                     "precipitation_mm": round(w.precipitation_mm_h.mean(), 2),  # mean rate over the hour x 1 h
                     "max_wind_speed_ms": w.wind_speed_ms.max(), "mean_aqi": round(w.air_quality_index.mean(), 2),
                     "max_aqi": w.air_quality_index.max(), "minutes_over_aqi_alert": int((w.air_quality_index > 100).sum()),
                     "dominant_condition": sorted(counts[counts == counts.max()].index)[0]})
    return pd.DataFrame(rows).sort_values("zone_id").reset_index(drop=True)


def weather_impact(weather: pd.DataFrame, gps: pd.DataFrame | None, emergency: pd.DataFrame | None) -> pd.DataFrame:
    w = weather.assign(minute=weather.event_time.dt.floor("min")).groupby(["zone_id", "minute"]).condition.min()
    frame = w.to_frame()
    if gps is not None:
        g = gps[gps.segment_id.notna()].assign(minute=lambda d: d.event_time.dt.floor("min"))
        g = g.assign(ratio=g.speed_kmh / g.speed_limit_kmh).groupby(["zone_id", "minute"]).agg(
            fixes=("event_id", "size"), speed=("speed_kmh", "sum"), ratio=("ratio", "sum"))
        frame = frame.join(g)
    if emergency is not None:
        e = emergency[emergency.status == "reported"].assign(minute=lambda d: d.event_time.dt.floor("min"))
        e = e.assign(collision=e.incident_type == "collision").groupby(["zone_id", "minute"]).agg(
            incidents=("event_id", "size"), collisions=("collision", "sum"))
        frame = frame.join(e)
    for column in ("fixes", "speed", "ratio", "incidents", "collisions"):
        if column not in frame:
            frame[column] = np.nan
    out = frame.reset_index().groupby(["zone_id", "condition"]).agg(
        minutes=("minute", "size"), gps_fixes=("fixes", "sum"), speed=("speed", "sum"), ratio=("ratio", "sum"),
        fixes=("fixes", lambda f: f.sum(min_count=1)), incidents_reported=("incidents", "sum"),
        collisions_reported=("collisions", "sum")).reset_index()
    out["mean_speed_kmh"] = (out.speed / out.fixes).round(2)
    out["mean_speed_ratio"] = (out.ratio / out.fixes).round(3)
    for column in ("gps_fixes", "incidents_reported", "collisions_reported"):
        out[column] = out[column].astype(int)
    return out.drop(columns=["speed", "ratio", "fixes"]).sort_values(["zone_id", "condition"]).reset_index(drop=True)


def _minutes(start: pd.Series, end: pd.Series) -> pd.Series:
    return ((end - start).dt.total_seconds() / 60).round(2)


def incident_response(updates: pd.DataFrame, weather: pd.DataFrame | None, hour: pd.Timestamp,
                      follow_hours: int = 6) -> pd.DataFrame:
    """Incidents reported in `hour`, followed through their updates up to `follow_hours` after the end of that
    hour; the weather of the zone's last reading at or before the report (readings of the hour and the one
    before), else its first reading after. `updates` and `weather` may hold any hours: they are cut here."""
    end, until = hour + pd.Timedelta(hours=1), hour + pd.Timedelta(hours=1 + follow_hours)
    reports = updates[(updates.status == "reported") & (updates.event_time >= hour) & (updates.event_time < end)]
    reports = reports.sort_values(["event_time", "event_id"]).drop_duplicates("incident_id")
    updates = updates[updates.incident_id.isin(reports.incident_id) & (updates.event_time >= hour)
                      & (updates.event_time < until)]
    out = reports.set_index("incident_id")[["incident_type", "severity", "zone_id", "zone_name", "segment_id",
                                            "road_class", "latitude", "longitude", "vehicles_involved",
                                            "event_time"]].rename(columns={"event_time": "reported_at"})
    firsts = updates.groupby(["incident_id", "status"]).event_time.min().unstack()
    for status in ("dispatched", "on_scene", "resolved"):
        out[f"{status}_at"] = firsts[status] if status in firsts else pd.Series(
            pd.NaT, index=out.index, dtype="datetime64[ns, UTC]")
    out["status"] = updates.groupby("incident_id").status.agg(lambda s: max(s, key=ORDER.index))
    out["unit_id"] = updates.dropna(subset=["unit_id"]).groupby("incident_id").unit_id.max()
    out["followed_until"] = until
    out["minutes_to_dispatch"] = _minutes(out.reported_at, out.dispatched_at)
    out["minutes_travel"] = _minutes(out.dispatched_at, out.on_scene_at)
    out["minutes_to_scene"] = _minutes(out.reported_at, out.on_scene_at)
    out["minutes_on_scene"] = _minutes(out.on_scene_at, out.resolved_at)
    out["minutes_to_resolve"] = _minutes(out.reported_at, out.resolved_at)
    if weather is not None:
        weather = weather[(weather.event_time >= hour - pd.Timedelta(hours=1)) & (weather.event_time < end)]

    def weather_at(row):
        if weather is None:
            return None, np.nan, np.nan
        readings = weather[weather.zone_id == row.zone_id].sort_values(["event_time", "event_id"])
        if readings.empty:
            return None, np.nan, np.nan
        before = readings[readings.event_time <= row.reported_at]
        r = before.iloc[-1] if len(before) else readings.iloc[0]
        return r.condition, r.precipitation_mm_h, r.temperature_c

    at = [weather_at(r) for r in out.itertuples()]
    out["weather_condition"] = [a[0] for a in at]
    out["precipitation_mm_h"] = [a[1] for a in at]
    out["temperature_c"] = [a[2] for a in at]
    return out.reset_index().sort_values(["reported_at", "incident_id"]).reset_index(drop=True)


def public_transport(vehicles: pd.DataFrame, gps: pd.DataFrame | None, hour: pd.Timestamp) -> pd.DataFrame:
    """Per route in `hour`: buses, reports, commercial speed, passengers from the hour's bus reports; stop
    arrivals of the hour (a bus's matched fix moving from the route's previous segment onto a stop's segment)
    and their headways to the previous arrival at the stop, which may be in the hour before (`vehicles` and
    `gps` may hold any hours: they are cut to the hour and the one before); average wait sum(h^2)/(2 sum(h)), excess wait over mean/2, bunching (< half the
    mean) and gaps (> twice the mean)."""
    end, before = hour + pd.Timedelta(hours=1), hour - pd.Timedelta(hours=1)
    vehicles = vehicles[(vehicles.event_time >= before) & (vehicles.event_time < end)]
    if gps is not None:
        gps = gps[(gps.event_time >= before) & (gps.event_time < end)]
    buses = vehicles[(vehicles.vehicle_type == "bus") & vehicles.route_id.notna()]
    this_hour = buses[(buses.event_time >= hour) & (buses.event_time < end)]
    out = this_hour.groupby("route_id").agg(buses=("vehicle_id", "nunique"), reports=("event_id", "size"),
                                            mean_speed_kmh=("speed_kmh", "mean"),
                                            mean_passengers=("passenger_count", "mean"),
                                            max_passengers=("passenger_count", "max"))
    out["mean_speed_kmh"] = out.mean_speed_kmh.round(2)
    out["mean_passengers"] = out.mean_passengers.round(2)
    route_of = buses.groupby("vehicle_id").route_id.min()
    arrivals = pd.DataFrame(columns=["route_id", "segment_id", "event_time", "vehicle_id"])
    if gps is not None:
        fixes = gps[gps.segment_id.notna() & gps.vehicle_id.isin(route_of.index)].sort_values(
            ["vehicle_id", "event_time", "event_id"])
        fixes = fixes.assign(route_id=fixes.vehicle_id.map(route_of),
                             previous=fixes.groupby("vehicle_id").segment_id.shift())
        stops = reference.bus_routes().to_pandas()
        arrivals = fixes.merge(stops, on=["route_id", "segment_id"])
        arrivals = arrivals[arrivals.previous == arrivals.previous_segment_id]
    arrivals = arrivals.sort_values(["route_id", "segment_id", "event_time", "vehicle_id"])
    arrivals["headway"] = arrivals.groupby(["route_id", "segment_id"]).event_time.diff().dt.total_seconds() / 60
    arrivals = arrivals[(arrivals.event_time >= hour) & (arrivals.event_time < end)]
    per_route = arrivals.groupby("route_id").headway
    out["stop_arrivals"] = arrivals.groupby("route_id").size().reindex(out.index).fillna(0).astype(int)
    out["headways"] = per_route.count().reindex(out.index).fillna(0).astype(int)
    mean = per_route.mean()
    out["mean_headway_min"] = mean.round(2)
    out["headway_cv"] = (per_route.std(ddof=0) / mean).round(3)
    out["max_headway_min"] = per_route.max().round(2)
    wait = per_route.apply(lambda h: (h ** 2).sum() / (2 * h.sum()) if h.notna().any() else np.nan)
    out["mean_wait_min"] = wait.round(2)
    out["excess_wait_min"] = (wait - mean / 2).round(2)
    for column, test in (("bunched_headways", lambda h: h < 0.5 * h.mean()), ("service_gaps", lambda h: h > 2 * h.mean())):
        out[column] = per_route.apply(lambda h, t=test: int(t(h).sum())).reindex(out.index).fillna(0).astype(int)
    return out.reset_index().sort_values("route_id").reset_index(drop=True)


def assert_same(got: pd.DataFrame, want: pd.DataFrame, columns: list[str], places: dict[str, int] | None = None):
    """Every column equal, row by row; a rounded float may differ by one unit in its last place (a value on the
    rounding boundary can round either way after a different summation order)."""
    assert len(got) == len(want), (len(got), len(want))
    places = places or {}
    for column in columns:
        g, w = got[column].reset_index(drop=True), want[column].reset_index(drop=True)
        if column in places or pd.api.types.is_float_dtype(w):
            tolerance = 10 ** -places.get(column, 9) * 1.01
            g, w = pd.to_numeric(g, errors="coerce").astype(float), pd.to_numeric(w, errors="coerce").astype(float)
            assert (g.isna() == w.isna()).all(), column
            assert ((g - w).abs()[w.notna()] <= tolerance).all(), (column, pd.concat([g, w], axis=1)[(g - w).abs() >
                                                                                                    tolerance])
        elif pd.api.types.is_datetime64_any_dtype(w):
            assert pd.to_datetime(g, utc=True).tolist() == pd.to_datetime(w, utc=True).tolist(), column
        else:
            assert [None if pd.isna(v) else v for v in g] == [None if pd.isna(v) else v for v in w], column
