"""The live tables in the warehouse: one micro-batch's events applied in one transaction, exactly once.

`LiveLayer.apply` takes a batch's events (`smartcity.live.events`), and in a single transaction:
checks the stream's last applied batch id (a replayed batch is skipped), advances the live clock, counts the
events no earlier batch counted (per vehicle or camera: newer than the last event counted for it), adds them
to one-minute buckets, rebuilds the windowed tables from the buckets still in the window, merges incident
updates and zone readings, and records the batch id. A crash anywhere before the commit leaves nothing; a
crash after it makes the replay a no-op. The work per batch grows with the batch and the window (buckets of
the last minutes, active entities, open incidents), never with history.

The SQL is the dialect PostgreSQL (15+) and Redshift share: staging tables, MERGE, DELETE + INSERT ... SELECT,
LOCK (`Warehouse.lock_for_writers`). Internal state lives beside the live tables: `segment_minutes`, `bus_minutes` (the buckets),
`entity_clock` (last event counted per vehicle / camera), `clock`, `stream_progress`, and the reference tables
`segments` and `routes` (also handy for BI tools drawing the map).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pandas as pd
import pyarrow as pa

from smartcity import reference
from smartcity.contracts import INCIDENT_STATUSES
from smartcity.live.events import COLUMNS, COUNTED
from smartcity.live.tables import (
    BUS_ROUTES,
    INCIDENT_HOURS,
    INCIDENT_STALE_HOURS,
    INCIDENTS,
    LIVE_TABLES,
    SCHEMA,
    SEGMENT_TRAFFIC,
    WINDOW_MIN,
    WINDOWS_MIN,
    ZONE_CONDITIONS,
    LiveTable,
)
from smartcity.marts.environment import AQI_ALERT
from smartcity.marts.traffic import CONGESTED, CONGESTION_LEVELS
from smartcity.warehouse.base import Warehouse
from smartcity.warehouse.sql import SQL_TYPES, identifier, literal

STATE_TABLES = {
    "segment_minutes": "segment_id VARCHAR(256), minute TIMESTAMPTZ, gps_fixes BIGINT, speed_sum DOUBLE PRECISION, "
                       "camera_reports BIGINT, camera_vehicles BIGINT, PRIMARY KEY (segment_id, minute)",
    "bus_minutes": "route_id VARCHAR(256), minute TIMESTAMPTZ, vehicle_id VARCHAR(256), reports BIGINT, "
                   "speed_sum DOUBLE PRECISION, PRIMARY KEY (route_id, minute, vehicle_id)",
    "entity_clock": "source VARCHAR(64), entity_id VARCHAR(256), last_time TIMESTAMPTZ, last_event_id VARCHAR(36), "
                    "PRIMARY KEY (source, entity_id)",
    "clock": "event_time TIMESTAMPTZ",
    "stream_progress": "stream_id VARCHAR(64) PRIMARY KEY, batch_id BIGINT, applied_at TIMESTAMPTZ, events BIGINT",
    "segments": "segment_id VARCHAR(256) PRIMARY KEY, zone_id VARCHAR(256), road_class VARCHAR(256), "
                "speed_limit_kmh DOUBLE PRECISION, start_lat DOUBLE PRECISION, start_lon DOUBLE PRECISION, "
                "end_lat DOUBLE PRECISION, end_lon DOUBLE PRECISION",
    "routes": "route_id VARCHAR(256) PRIMARY KEY, length_km DOUBLE PRECISION",
}


def create_sql(table: LiveTable) -> list[str]:
    cols = ", ".join(f"{identifier(c.name)} {SQL_TYPES[c.type]}" for c in table.columns)
    keys = ", ".join(identifier(k) for k in table.key)
    return [f"CREATE TABLE IF NOT EXISTS {table.qualified} ({cols}, PRIMARY KEY ({keys}))",
            f"COMMENT ON TABLE {table.qualified} IS {literal(table.description)}",
            *(f"COMMENT ON COLUMN {table.qualified}.{identifier(c.name)} IS {literal(c.comment)}"
              for c in table.columns)]


@dataclass(frozen=True)
class LiveStatus:
    """What the live tables hold: the live clock, each stream's last applied batch, the rows per table."""

    clock: datetime | None
    batches: dict[str, tuple[int, datetime]]  # stream id -> (batch id, applied at)
    rows: dict[str, int]  # live table -> rows


class LiveLayer:
    def __init__(self, warehouse: Warehouse):
        self.warehouse = warehouse

    def ensure(self) -> None:
        """Create the schema, the tables and the reference rows (idempotent)."""
        with self.warehouse.transaction("creating the live tables") as cur:
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
            for name, columns in STATE_TABLES.items():
                cur.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{name} ({columns})")
            for table in LIVE_TABLES:
                for statement in create_sql(table):
                    cur.execute(statement)
            self.warehouse.lock_for_writers(cur, f"{SCHEMA}.clock")
            cur.execute(f"SELECT COUNT(*) FROM {SCHEMA}.clock")
            if cur.fetchone()[0] == 0:
                cur.execute(f"INSERT INTO {SCHEMA}.clock VALUES (NULL)")
            cur.execute(f"SELECT COUNT(*) FROM {SCHEMA}.segments")
            if cur.fetchone()[0] == 0:
                segments = reference.segments().select(["segment_id", "zone_id", "road_class", "speed_limit_kmh",
                                                        "start_lat", "start_lon", "end_lat", "end_lon"])
                self.warehouse.insert_rows(cur, f"{SCHEMA}.segments", [tuple(r.values()) for r in segments.to_pylist()])
                lengths = dict(zip(segments.column("segment_id").to_pylist(),
                                   reference.segments().column("length_m").to_pylist()))
                routes = pd.DataFrame(reference.bus_routes().to_pylist())
                routes["km"] = routes.segment_id.map(lengths) / 1000
                self.warehouse.insert_rows(cur, f"{SCHEMA}.routes", list(routes.groupby("route_id").km.sum().items()))

    def status(self) -> LiveStatus | None:
        """The live tables' status; None when they do not exist (no stream has run with the live layer)."""
        with self.warehouse.transaction("reading the live layer's status") as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
                        (SCHEMA, "stream_progress"))
            if cur.fetchone()[0] == 0:
                return None
            cur.execute(f"SELECT event_time FROM {SCHEMA}.clock")
            clock = cur.fetchone()
            cur.execute(f"SELECT stream_id, batch_id, applied_at FROM {SCHEMA}.stream_progress")
            batches = {stream: (batch, applied) for stream, batch, applied in cur.fetchall()}
            rows = {}
            for table in LIVE_TABLES:
                cur.execute(f"SELECT COUNT(*) FROM {table.qualified}")
                rows[table.name] = cur.fetchone()[0]
        return LiveStatus(clock[0] if clock else None, batches, rows)

    def headline(self) -> str:
        """One line on what the live tables hold now (the demo prints it)."""
        heavy = ", ".join(literal(level) for level in CONGESTED)
        with self.warehouse.transaction("reading the live tables") as cur:
            cur.execute(f"SELECT event_time FROM {SCHEMA}.clock")
            clock = cur.fetchone()[0]
            cur.execute(f"SELECT COUNT(*), SUM(CASE WHEN congestion_{WINDOW_MIN}m IN ({heavy}) THEN 1 ELSE 0 END) "
                        f"FROM {SEGMENT_TRAFFIC.qualified}")
            segments, congested = cur.fetchone()
            cur.execute(f"SELECT SUM(CASE WHEN status <> 'resolved' THEN 1 ELSE 0 END), "
                        f"SUM(CASE WHEN status = 'resolved' THEN 1 ELSE 0 END) FROM {INCIDENTS.qualified}")
            open_, resolved = cur.fetchone()
            cur.execute(f"SELECT SUM(CASE WHEN aqi_alert THEN 1 ELSE 0 END) FROM {ZONE_CONDITIONS.qualified}")
            alerts = cur.fetchone()[0]
            cur.execute(f"SELECT COUNT(*), AVG(headway_min) FROM {BUS_ROUTES.qualified}")
            routes, headway = cur.fetchone()
        if clock is None:
            return "Live: no events yet"
        headway_text = f", mean headway {headway:.1f} min" if headway is not None else ""
        return (f"Live (as of {clock.astimezone(timezone.utc):%H:%M} UTC event time): {segments} road segments with traffic in the last "
                f"{WINDOW_MIN} min, {congested or 0} heavy or severe; {open_ or 0} open incidents, {resolved or 0} "
                f"resolved in the last {INCIDENT_HOURS} h; {alerts or 0} zones under an AQI alert; {routes} bus routes"
                f"{headway_text}")

    def apply(self, stream_id: str, batch_id: int, events: dict[str, pa.Table]) -> bool:
        """Apply one micro-batch; False when it was applied before (a replay)."""
        with self.warehouse.transaction(f"updating the live tables with batch {batch_id}") as cur:
            self.warehouse.lock_for_writers(cur, f"{SCHEMA}.stream_progress")  # one batch at a time, any stream
            cur.execute(f"SELECT batch_id FROM {SCHEMA}.stream_progress WHERE stream_id = %s", (stream_id,))
            row = cur.fetchone()
            if row is not None and row[0] >= batch_id:
                return False
            frames = {s: t.to_pandas() for s, t in events.items() if t.num_rows}
            cur.execute(f"SELECT event_time FROM {SCHEMA}.clock")
            clock = max([t for t in [cur.fetchone()[0], *(f.event_time.max() for f in frames.values())]
                         if t is not None and not pd.isna(t)], default=None)
            if clock is not None:
                _Batch(self.warehouse, cur, pd.Timestamp(clock).tz_convert("UTC"), frames).apply()
            cur.execute(f"DELETE FROM {SCHEMA}.stream_progress WHERE stream_id = %s", (stream_id,))
            cur.execute(f"INSERT INTO {SCHEMA}.stream_progress VALUES (%s, %s, %s, %s)",
                        (stream_id, batch_id, datetime.now(timezone.utc), sum(len(f) for f in frames.values())))
        return True


class _Batch:
    """One batch's update, inside the transaction of `LiveLayer.apply`."""

    def __init__(self, warehouse: Warehouse, cur, clock: pd.Timestamp, frames: dict[str, pd.DataFrame]):
        self.warehouse, self.cur, self.clock, self.frames = warehouse, cur, clock, frames
        self.minute = clock.floor("min")
        self.cutoff = self.minute - pd.Timedelta(minutes=WINDOW_MIN - 1)  # the oldest bucket in the window
        self.now = datetime.now(timezone.utc)
        self.stamp = {"as_of": clock.to_pydatetime(), "updated_at": self.now}

    def apply(self) -> None:
        counted = {s: self._new_events(s, self.frames[s]) for s in COUNTED if s in self.frames}
        self._segment_minutes(counted.get("gps"), counted.get("traffic_camera"))
        self._bus_minutes(counted.get("vehicle"))
        for table in ("segment_minutes", "bus_minutes"):
            self.cur.execute(f"DELETE FROM {SCHEMA}.{table} WHERE minute < %s", (self.cutoff.to_pydatetime(),))
        self.cur.execute(f"DELETE FROM {SCHEMA}.entity_clock WHERE last_time < %s", (self.cutoff.to_pydatetime(),))
        self._rebuild_segment_traffic()
        self._rebuild_bus_routes()
        if "weather" in self.frames:
            self._zones(self.frames["weather"])
        self._incidents(self.frames.get("emergency"))
        self.cur.execute(f"UPDATE {SCHEMA}.clock SET event_time = %s", (self.clock.to_pydatetime(),))

    # -- counting each event once -----------------------------------------------------------------------------

    def _new_events(self, source: str, df: pd.DataFrame) -> pd.DataFrame:
        """The events of `df` in the window that are newer than the last counted event of their entity."""
        key = COLUMNS[source][0]
        df = df.drop_duplicates("event_id")
        self.cur.execute(f"SELECT entity_id, last_time, last_event_id FROM {SCHEMA}.entity_clock "
                         "WHERE source = %s AND entity_id IN %s", (source, tuple(df[key].unique())))
        last = pd.DataFrame(self.cur.fetchall(), columns=[key, "last_time", "last_event_id"])
        last["last_time"] = pd.to_datetime(last.last_time, utc=True)
        merged = df.merge(last, on=key, how="left")
        merged["last_event_id"] = merged.last_event_id.fillna("")
        newer = (merged.last_time.isna() | (merged.event_time > merged.last_time)
                 | ((merged.event_time == merged.last_time) & (merged.event_id > merged.last_event_id)))
        # each entity's newest event (by time, then id): sort only the rows at their entity's newest time
        newest = df[df.event_time == df.groupby(key).event_time.transform("max")]
        latest = newest.sort_values([key, "event_id"]).groupby(key).tail(1)
        self._merge("entity_clock", ("source", "entity_id"),
                    [(source, getattr(r, key), r.event_time.to_pydatetime(), r.event_id) for r in latest.itertuples()],
                    "source VARCHAR(64), entity_id VARCHAR(256), last_time TIMESTAMPTZ, last_event_id VARCHAR(36)",
                    newer=lambda t, s: f"{s}.last_time > {t}.last_time OR ({s}.last_time = {t}.last_time AND "
                                       f"{s}.last_event_id > {t}.last_event_id)")
        fresh = merged[newer & (merged.event_time >= self.cutoff)]
        return fresh.assign(minute=fresh.event_time.dt.floor("min"))

    # -- buckets and the windowed tables ----------------------------------------------------------------------

    def _segment_minutes(self, gps: pd.DataFrame | None, cameras: pd.DataFrame | None) -> None:
        parts = []
        if gps is not None:
            on_road = gps[gps.segment_id.notna()]
            parts.append(on_road.groupby(["segment_id", "minute"]).agg(
                gps_fixes=("event_id", "size"), speed_sum=("speed_kmh", "sum")).reset_index())
        if cameras is not None:
            parts.append(cameras.groupby(["segment_id", "minute"]).agg(
                camera_reports=("event_id", "size"), camera_vehicles=("vehicle_count", "sum")).reset_index())
        if not parts:
            return
        buckets = pd.concat(parts).groupby(["segment_id", "minute"]).sum(min_count=0).reset_index()
        counts = buckets.reindex(columns=["gps_fixes", "speed_sum", "camera_reports", "camera_vehicles"]).fillna(0)
        minutes = buckets.minute.array.to_pydatetime()
        rows = list(zip(buckets.segment_id, minutes, counts.gps_fixes.astype(int).tolist(),
                        counts.speed_sum.astype(float).tolist(), counts.camera_reports.astype(int).tolist(),
                        counts.camera_vehicles.astype(int).tolist()))
        self._merge("segment_minutes", ("segment_id", "minute"), rows,
                    "segment_id VARCHAR(256), minute TIMESTAMPTZ, gps_fixes BIGINT, speed_sum DOUBLE PRECISION, "
                    "camera_reports BIGINT, camera_vehicles BIGINT", add=("gps_fixes", "speed_sum",
                                                                          "camera_reports", "camera_vehicles"))

    def _bus_minutes(self, buses: pd.DataFrame | None) -> None:
        if buses is None or buses.empty:
            return
        buckets = buses.groupby(["route_id", "minute", "vehicle_id"]).agg(
            reports=("event_id", "size"), speed_sum=("speed_kmh", "sum")).reset_index()
        self._merge("bus_minutes", ("route_id", "minute", "vehicle_id"),
                    list(zip(buckets.route_id, buckets.minute.array.to_pydatetime(), buckets.vehicle_id,
                             buckets.reports.astype(int).tolist(), buckets.speed_sum.astype(float).tolist())),
                    "route_id VARCHAR(256), minute TIMESTAMPTZ, vehicle_id VARCHAR(256), reports BIGINT, "
                    "speed_sum DOUBLE PRECISION", add=("reports", "speed_sum"))

    def _rebuild_segment_traffic(self) -> None:
        sums, derived = [], []
        for m in WINDOWS_MIN:
            start = literal((self.minute - pd.Timedelta(minutes=m - 1)).isoformat())
            inside = f"minute >= CAST({start} AS TIMESTAMPTZ)"
            sums += [f"SUM(CASE WHEN {inside} THEN gps_fixes ELSE 0 END) AS fixes_{m}",
                     f"SUM(CASE WHEN {inside} THEN speed_sum ELSE 0 END) AS speed_{m}",
                     f"SUM(CASE WHEN {inside} THEN camera_reports ELSE 0 END) AS reports_{m}",
                     f"SUM(CASE WHEN {inside} THEN camera_vehicles ELSE 0 END) AS cameras_{m}"]
            mean = f"ROUND(CAST(CASE WHEN fixes_{m} > 0 THEN speed_{m} / fixes_{m} END AS NUMERIC), 2)"
            ratio = f"ROUND({mean} / CAST(speed_limit_kmh AS NUMERIC), 3)"  # as the traffic mart: of the rounded mean
            derived += [f"fixes_{m}", f"CAST({mean} AS DOUBLE PRECISION)", f"CAST({ratio} AS DOUBLE PRECISION)",
                        _level_sql(ratio),
                        f"CASE WHEN reports_{m} > 0 THEN cameras_{m} END"]
        columns = ", ".join(SEGMENT_TRAFFIC.column_names)
        self.cur.execute(f"DELETE FROM {SEGMENT_TRAFFIC.qualified}")
        self.cur.execute(
            f"INSERT INTO {SEGMENT_TRAFFIC.qualified} ({columns}) "
            f"SELECT w.segment_id, r.zone_id, r.road_class, r.speed_limit_kmh, {', '.join(derived)}, "
            f"%(as_of)s, %(updated_at)s FROM (SELECT segment_id, {', '.join(sums)} FROM {SCHEMA}.segment_minutes "
            f"GROUP BY segment_id) AS w LEFT JOIN {SCHEMA}.segments AS r ON r.segment_id = w.segment_id",
            self.stamp)

    def _rebuild_bus_routes(self) -> None:
        columns = ", ".join(BUS_ROUTES.column_names)
        mean = "CASE WHEN w.reports > 0 THEN w.speed_sum / w.reports END"
        self.cur.execute(f"DELETE FROM {BUS_ROUTES.qualified}")
        self.cur.execute(
            f"INSERT INTO {BUS_ROUTES.qualified} ({columns}) "
            f"SELECT w.route_id, w.buses, w.reports, {mean}, r.length_km, "
            f"CASE WHEN w.speed_sum > 0 THEN r.length_km / ({mean}) * 60 / w.buses END, %(as_of)s, %(updated_at)s "
            f"FROM (SELECT route_id, COUNT(DISTINCT vehicle_id) AS buses, SUM(reports) AS reports, "
            f"SUM(speed_sum) AS speed_sum FROM {SCHEMA}.bus_minutes GROUP BY route_id) AS w "
            f"JOIN {SCHEMA}.routes AS r ON r.route_id = w.route_id", self.stamp)

    # -- latest readings and incident lifecycles ----------------------------------------------------------------

    def _zones(self, weather: pd.DataFrame) -> None:
        weather = weather[weather.event_time >= self.cutoff]
        if weather.empty:
            return
        latest = weather.sort_values(["zone_id", "event_time", "event_id"]).groupby("zone_id").tail(1)
        latest = latest.rename(columns={"event_time": "reading_at"}).assign(
            aqi_alert=latest.air_quality_index > AQI_ALERT, **self.stamp)
        self._merge_table(ZONE_CONDITIONS, latest, newer=lambda t, s: f"{s}.reading_at > {t}.reading_at OR "
                          f"({s}.reading_at = {t}.reading_at AND {s}.event_id > {t}.event_id)")

    def _incidents(self, updates: pd.DataFrame | None) -> None:
        clock = self.clock.to_pydatetime()
        if updates is not None:
            updates = updates[updates.event_time >= self.clock - pd.Timedelta(hours=INCIDENT_HOURS)]
        if updates is not None and not updates.empty:
            self.cur.execute(f"SELECT {', '.join(INCIDENTS.column_names)} FROM {INCIDENTS.qualified} "
                             "WHERE incident_id IN %s", (tuple(updates.incident_id.unique()),))
            existing = {r[0]: dict(zip(INCIDENTS.column_names, r)) for r in self.cur.fetchall()}
            rows = pd.DataFrame([_incident(existing.get(i), group) for i, group in updates.groupby("incident_id")])
            self._merge_table(INCIDENTS, rows.assign(**self.stamp))
        self.cur.execute(f"UPDATE {INCIDENTS.qualified} SET as_of = %s, minutes_since_reported = "
                         "EXTRACT(EPOCH FROM (CAST(%s AS TIMESTAMPTZ) - reported_at)) / 60", (clock, clock))
        self.cur.execute(f"DELETE FROM {INCIDENTS.qualified} WHERE status = 'resolved' AND resolved_at < %s",
                         (clock - timedelta(hours=INCIDENT_HOURS),))
        self.cur.execute(f"DELETE FROM {INCIDENTS.qualified} WHERE status <> 'resolved' AND last_update_at < %s",
                         (clock - timedelta(hours=INCIDENT_STALE_HOURS),))

    # -- staging + MERGE ------------------------------------------------------------------------------------------

    def _merge_table(self, table: LiveTable, frame: pd.DataFrame, newer=None) -> None:
        names = table.column_names
        frame = frame.reindex(columns=names)
        rows = [tuple(None if _missing(v) else (v.to_pydatetime() if isinstance(v, pd.Timestamp) else
                                               (v.item() if hasattr(v, "item") else v)) for v in r)
                for r in frame.itertuples(index=False)]
        self._merge(table.name, table.key, rows,
                    ", ".join(f"{identifier(c.name)} {SQL_TYPES[c.type]}" for c in table.columns), newer=newer)

    def _merge(self, table: str, key: tuple[str, ...], rows: list[tuple], columns_sql: str,
               add: tuple[str, ...] = (), newer=None) -> None:
        """Upsert `rows` into live.`table` on `key`: matched rows get the staged values (or, for `add`, the sum);
        with `newer(target, staged)` (an SQL condition on the two tables' names), only staged rows for which it
        holds replace a matched row. (The condition filters the staging table first: Redshift's MERGE has no
        conditional WHEN MATCHED.)"""
        if not rows:
            return
        staging, target = identifier(f"stage_{table}"), f"{SCHEMA}.{table}"
        names = [c.split()[0] for c in columns_sql.split(", ")]
        self.cur.execute(f"CREATE TEMP TABLE {staging} ({columns_sql})")
        self.warehouse.insert_rows(self.cur, staging, rows)
        if newer is not None:
            matched = " AND ".join(f"{target}.{k} = {staging}.{k}" for k in key)
            self.cur.execute(f"DELETE FROM {staging} USING {target} WHERE {matched} AND NOT ({newer(target, staging)})")
        on = " AND ".join(f"t.{k} = s.{k}" for k in key)
        sets = ", ".join(f"{c} = t.{c} + s.{c}" if c in add else f"{c} = s.{c}" for c in names if c not in key)
        self.cur.execute(f"MERGE INTO {target} AS t USING {staging} AS s ON {on} WHEN MATCHED THEN UPDATE SET {sets} "
                         f"WHEN NOT MATCHED THEN INSERT ({', '.join(names)}) "
                         f"VALUES ({', '.join('s.' + c for c in names)})")
        self.cur.execute(f"DROP TABLE {staging}")


def _level_sql(ratio: str) -> str:
    """The congestion level of a ratio expression: the traffic mart's thresholds (CONGESTION_LEVELS)."""
    cases = " ".join(f"WHEN {ratio} >= {threshold} THEN {literal(name)}" for threshold, name in CONGESTION_LEVELS[:-1])
    return f"CASE WHEN {ratio} IS NULL THEN NULL {cases} ELSE {literal(CONGESTION_LEVELS[-1][1])} END"


_STEP = {s: i for i, s in enumerate(INCIDENT_STATUSES)}


def _incident(existing: dict | None, updates: pd.DataFrame) -> dict:
    """An incident after its updates of this batch: the most advanced status wins (the latest update of it
    for the attributes), each step keeps the earliest time it was seen, the unit the latest one known."""
    steps = {f"{s}_at": None for s in INCIDENT_STATUSES}
    candidates = []
    if existing is not None:
        steps = {k: existing[k] for k in steps}
        candidates.append((_STEP[existing["status"]], pd.Timestamp(existing["last_update_at"]), "", existing))
    for u in updates.to_dict("records"):
        at = f"{u['status']}_at"
        steps[at] = u["event_time"] if steps[at] is None else min(pd.Timestamp(steps[at]), u["event_time"])
        candidates.append((_STEP[u["status"]], u["event_time"], u["event_id"],
                           {**u, "last_update_at": u["event_time"]}))
    candidates.sort(key=lambda c: c[:3])
    chosen = candidates[-1][3]
    units = [c[3].get("unit_id") for c in candidates if c[3].get("unit_id") is not None]
    row = {c: chosen.get(c) for c in INCIDENTS.column_names if c in chosen}
    return {**row, **steps, "unit_id": units[-1] if units else None}


def _missing(value) -> bool:
    return value is None or (not isinstance(value, str) and pd.isna(value))

