"""Event contracts: the one source of truth for the five kinds of city telemetry.

Each `EventContract` names its Kafka topic, its entity key and its fields (type, unit, allowed range or
values, nullability, description). Everything else is derived from here: the simulator's output, the
validator that decides what is quarantined, the Arrow schema of the raw zone and, in later layers, the
Spark, pandera, Glue and Dagster column schemas.

Wire format: one JSON object per Kafka message, keyed by the entity id. Timestamps are ISO-8601 strings
with an explicit UTC offset (``2026-11-29T08:15:02.250Z``); a timestamp without an offset is rejected.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

# RFC 3339 timestamps: the offset is required (a naive time is rejected with its own reason).
TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$"
NAIVE_TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?$"
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_TIMESTAMP_RE, _NAIVE_RE, _UUID_RE = (re.compile(p, re.ASCII) for p in (TIMESTAMP_PATTERN, NAIVE_TIMESTAMP_PATTERN,
                                                              UUID_PATTERN))
_MISSING = object()


class FieldType(enum.Enum):
    STRING = "string"
    UUID = "uuid"
    TIMESTAMP = "timestamp"
    DOUBLE = "double"
    INT = "int"


ARROW_TYPES: dict[FieldType, pa.DataType] = {
    FieldType.STRING: pa.string(),
    FieldType.UUID: pa.string(),
    FieldType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    FieldType.DOUBLE: pa.float64(),
    FieldType.INT: pa.int32(),
}


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    description: str
    unit: str | None = None
    nullable: bool = False
    min: float | None = None
    max: float | None = None  # inclusive
    allowed: tuple[str, ...] | None = None  # closed set of values (enumerations)

    @property
    def is_numeric(self) -> bool:
        return self.type in (FieldType.DOUBLE, FieldType.INT)

    @property
    def comment(self) -> str:
        """Human-readable column comment: description, unit and allowed values or range."""
        parts = [self.description]
        if self.unit:
            parts.append(f"unit: {self.unit}")
        if self.allowed:
            parts.append("one of: " + ", ".join(self.allowed))
        elif self.min is not None or self.max is not None:
            parts.append(f"range: {_fmt(self.min)}..{_fmt(self.max)}")
        return "; ".join(parts)


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True)
class EventContract:
    name: str  # short source name, also the raw-zone partition value: "vehicle", "gps", ...
    topic: str
    key: str  # field holding the entity id; also the Kafka message key
    description: str
    fields: tuple[Field, ...]
    _by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {f.name: f for f in self.fields})
        assert self.key in self._by_name, f"{self.name}: key {self.key} is not a field"

    def __getitem__(self, name: str) -> Field:
        return self._by_name[name]

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def arrow_schema(self) -> pa.Schema:
        return pa.schema(
            [pa.field(f.name, ARROW_TYPES[f.type], nullable=f.nullable,
                      metadata={"comment": f.comment}) for f in self.fields],
            metadata={"contract": self.name, "topic": self.topic, "key": self.key},
        )

    # -- validation -------------------------------------------------------------------------------

    def validate(self, record: Any) -> tuple[dict[str, Any] | None, str | None]:
        """Check a decoded JSON value against the contract.

        Returns ``(typed_record, None)`` when valid (timestamps become aware UTC datetimes, ints stay
        ints, doubles become floats, unknown extra fields are dropped), else ``(None, reason)`` where
        reason is machine readable: ``<kind>:<field>`` with kind one of ``missing_field``,
        ``null_field``, ``wrong_type``, ``out_of_range``, ``not_allowed``, or ``not_an_object``.
        """
        if not isinstance(record, dict):
            return None, "not_an_object"
        out: dict[str, Any] = {}
        for f in self.fields:
            if f.name not in record:
                if f.nullable:
                    out[f.name] = None
                    continue
                return None, f"missing_field:{f.name}"
            value = record[f.name]
            if value is None:
                if f.nullable:
                    out[f.name] = None
                    continue
                return None, f"null_field:{f.name}"
            value, reason = _check_value(f, value)
            if reason is not None:
                return None, f"{reason}:{f.name}"
            out[f.name] = value
        return out, None

    def validate_batch(self, records: list[Any]) -> tuple[pa.RecordBatch, list[int], list[tuple[int, str]]]:
        """`validate` for many records at once, column by column (several times faster).

        Returns the valid records as a typed batch (in `arrow_schema()`), their positions in `records`,
        and (position, reason) for the rejected ones. Cheap column checks find every record that might
        be invalid; those few go through `validate`, which has the final word, so both always agree.
        """
        n = len(records)
        suspect = {i for i, r in enumerate(records) if r.__class__ is not dict}
        columns: dict[str, pa.Array] = {}
        for f in self.fields:
            values = [r.get(f.name, _MISSING) if r.__class__ is dict else None for r in records]
            columns[f.name] = _column(f, values, suspect)
        clean = [i for i in range(n) if i not in suspect]
        if len(clean) == n:
            batch = pa.RecordBatch.from_arrays([columns[f.name] for f in self.fields], schema=self.arrow_schema())
            return batch, clean, []
        mask = pa.array([i not in suspect for i in range(n)])
        fast = pa.RecordBatch.from_arrays([pc.filter(columns[f.name], mask) for f in self.fields],
                                          schema=self.arrow_schema())
        slow_rows, slow_records, rejected = [], [], []
        for i in sorted(suspect):
            typed, reason = self.validate(records[i])
            if reason is None:
                slow_rows.append(i)
                slow_records.append(typed)
            else:
                rejected.append((i, reason))
        if slow_records:
            slow = pa.RecordBatch.from_pylist(slow_records, schema=self.arrow_schema())
            fast = pa.Table.from_batches([fast, slow]).combine_chunks().to_batches()[0]
        return fast, clean + slow_rows, rejected

    def parse(self, payload: bytes | str | None) -> tuple[dict[str, Any] | None, str | None]:
        """Decode one Kafka message value and validate it (reason ``invalid_json`` if undecodable)."""
        if payload is None:
            return None, "empty_message"
        try:
            record = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return None, "invalid_json"
        return self.validate(record)


def _check_value(f: Field, value: Any) -> tuple[Any, str | None]:
    t = f.type
    if t is FieldType.DOUBLE:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, "wrong_type"
        try:
            value = float(value)
        except OverflowError:  # an integer beyond any double
            return None, "out_of_range"
        if value != value:  # NaN is never a valid reading
            return None, "out_of_range"
    elif t is FieldType.INT:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                return None, "wrong_type"
        if not INT32_MIN <= value <= INT32_MAX:  # what the column holds, whatever the contract's range
            return None, "out_of_range"
    elif t is FieldType.TIMESTAMP:
        if not isinstance(value, str):
            return None, "wrong_type"
        if not _TIMESTAMP_RE.match(value):
            return None, "naive_timestamp" if _NAIVE_RE.match(value) else "wrong_type"
        try:
            return datetime.fromisoformat(value).astimezone(timezone.utc), None
        except ValueError:  # e.g. February 30th
            return None, "wrong_type"
        except OverflowError:  # in UTC before year 1 or after year 9999
            return None, "out_of_range"
    elif t is FieldType.UUID:
        if not isinstance(value, str) or not _UUID_RE.match(value):
            return None, "wrong_type"
        return value, None
    else:  # STRING
        if not isinstance(value, str):
            return None, "wrong_type"
        if f.allowed is not None and value not in f.allowed:
            return None, "not_allowed"
        if not value:
            return None, "out_of_range"
        return value, None
    if (f.min is not None and value < f.min) or (f.max is not None and value > f.max):
        return None, "out_of_range"
    return value, None


_NUMERIC = {FieldType.DOUBLE: (float, int), FieldType.INT: (int,)}
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
_FIRST_TIME, _LAST_TIME = (pa.scalar(t.replace(tzinfo=timezone.utc), ARROW_TYPES[FieldType.TIMESTAMP])
                            for t in (datetime.min, datetime.max))  # what a Python datetime can hold
EXACT_INT = 2**53  # larger integers are not exact as doubles; the row validator decides about them


def _column(f: Field, values: list[Any], suspect: set[int]) -> pa.Array:
    """One field of many records as a typed Arrow array; positions that might be invalid go to `suspect`
    (and become null in the array)."""
    t = f.type
    ok_types = _NUMERIC.get(t, (str,))  # exact classes: a bool is not a number here
    nullable = f.nullable
    bad = [i for i, v in enumerate(values)
           if (v.__class__ not in ok_types and not (nullable and (v is None or v is _MISSING)))
           or (v.__class__ is int and not -EXACT_INT <= v <= EXACT_INT)]  # beyond int64 / exact doubles
    if bad:
        suspect.update(bad)
        for i in bad:
            values[i] = None
    if f.nullable:
        values = [None if v is _MISSING else v for v in values]
    if t is FieldType.TIMESTAMP:
        text = pa.array(values, pa.string())
        ok = pc.match_substring_regex(text, TIMESTAMP_PATTERN)
        _flag(pc.invert(ok), suspect)
        text = pc.if_else(ok, text, None)
        try:
            stamps = pc.cast(text, ARROW_TYPES[t])
        except pa.ArrowInvalid:  # a well-formed but impossible date: let the row validator say which
            parsed = []
            for i, v in enumerate(text.to_pylist()):
                try:
                    parsed.append(None if v is None else datetime.fromisoformat(v).astimezone(timezone.utc))
                except (ValueError, OverflowError):
                    suspect.add(i)
                    parsed.append(None)
            stamps = pa.array(parsed, ARROW_TYPES[t])
        # a UTC time outside years 1..9999 has no Python datetime: the row validator rejects it
        _flag(pc.or_(pc.less(stamps, _FIRST_TIME), pc.greater(stamps, _LAST_TIME)), suspect)
        return stamps
    array = pa.array(values, ARROW_TYPES[t] if t is not FieldType.INT else pa.int64())
    checks = []
    if t is FieldType.UUID:
        checks.append(pc.invert(pc.match_substring_regex(array, UUID_PATTERN)))
    elif t is FieldType.STRING:
        checks.append(pc.equal(array, ""))
        if f.allowed is not None:
            checks.append(pc.invert(pc.is_in(array, pa.array(f.allowed))))
    else:
        if t is FieldType.DOUBLE:
            checks.append(pc.is_nan(array))
        if t is FieldType.INT:
            checks.append(pc.or_(pc.less(array, INT32_MIN), pc.greater(array, INT32_MAX)))
        if f.min is not None:
            checks.append(pc.less(array, f.min))
        if f.max is not None:
            checks.append(pc.greater(array, f.max))
    for check in checks:
        _flag(check, suspect)
    if t is FieldType.INT:
        array = pc.cast(array, ARROW_TYPES[t], safe=False)  # out-of-range values were flagged above
    return array


def _flag(mask: pa.Array, suspect: set[int]) -> None:
    if pc.any(mask).as_py():
        suspect.update(pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist())


# -- shared field definitions ---------------------------------------------------------------------

def _event_id() -> Field:
    return Field("event_id", FieldType.UUID, "Unique id of this event (UUID v4); the deduplication key")


def _event_time() -> Field:
    return Field("event_time", FieldType.TIMESTAMP, "When the event happened, UTC", unit="UTC timestamp")


def _latitude() -> Field:
    return Field("latitude", FieldType.DOUBLE, "WGS84 latitude of the event", unit="degrees", min=-90, max=90)


def _longitude() -> Field:
    return Field("longitude", FieldType.DOUBLE, "WGS84 longitude of the event", unit="degrees",
                 min=-180, max=180)


def _speed(name: str, description: str, nullable: bool = False) -> Field:
    return Field(name, FieldType.DOUBLE, description, unit="km/h", min=0, max=250, nullable=nullable)


def _heading() -> Field:
    return Field("heading_deg", FieldType.DOUBLE, "Direction of travel, clockwise from north",
                 unit="degrees", min=0, max=360)


VEHICLE_TYPES = ("car", "bus", "truck", "emergency")
FUEL_TYPES = ("petrol", "diesel", "electric", "hybrid")
WEATHER_CONDITIONS = ("clear", "cloudy", "fog", "rain", "heavy_rain", "snow")
INCIDENT_TYPES = ("collision", "breakdown", "fire", "medical", "hazard")
INCIDENT_STATUSES = ("reported", "dispatched", "on_scene", "resolved")  # lifecycle order


VEHICLE = EventContract(
    name="vehicle",
    topic="smartcity.vehicle",
    key="vehicle_id",
    description="On-board telemetry of a city vehicle (car, bus, truck, emergency vehicle), every ~10 s.",
    fields=(
        _event_id(),
        Field("vehicle_id", FieldType.STRING, "Vehicle identifier, e.g. VEH-00042"),
        _event_time(),
        Field("vehicle_type", FieldType.STRING, "Kind of vehicle", allowed=VEHICLE_TYPES),
        Field("fuel_type", FieldType.STRING, "Energy source of the vehicle", allowed=FUEL_TYPES),
        _latitude(),
        _longitude(),
        _speed("speed_kmh", "Speed reported by the vehicle"),
        _heading(),
        Field("energy_level_pct", FieldType.DOUBLE, "Fuel tank or battery level", unit="%", min=0, max=100),
        Field("odometer_km", FieldType.DOUBLE, "Total distance driven", unit="km", min=0, max=2_000_000),
        Field("engine_temp_c", FieldType.DOUBLE, "Engine coolant temperature; null for electric vehicles",
              unit="°C", min=-40, max=150, nullable=True),
        Field("route_id", FieldType.STRING, "Public-transport route served; null unless a bus in service",
              nullable=True),
        Field("passenger_count", FieldType.INT, "Passengers on board; null unless a bus", unit="persons",
              min=0, max=200, nullable=True),
    ),
)

GPS = EventContract(
    name="gps",
    topic="smartcity.gps",
    key="vehicle_id",
    description="Raw GPS fix from a vehicle's tracker, every ~5 s; not yet matched to the road network.",
    fields=(
        _event_id(),
        Field("vehicle_id", FieldType.STRING, "Vehicle carrying the tracker, e.g. VEH-00042"),
        _event_time(),
        _latitude(),
        _longitude(),
        _speed("speed_kmh", "Ground speed from the GPS fix"),
        _heading(),
        Field("accuracy_m", FieldType.DOUBLE, "Estimated horizontal position error (1 sigma)", unit="m",
              min=0, max=500),
        Field("satellites", FieldType.INT, "Satellites used in the fix", min=0, max=64),
    ),
)

TRAFFIC_CAMERA = EventContract(
    name="traffic_camera",
    topic="smartcity.traffic_camera",
    key="camera_id",
    description=("Traffic camera count over a fixed window for one direction of one road segment: "
                 "vehicles that passed, by class, and their mean speed."),
    fields=(
        _event_id(),
        Field("camera_id", FieldType.STRING, "Camera identifier, e.g. CAM-0007"),
        _event_time(),
        Field("segment_id", FieldType.STRING, "Directed road segment the camera watches, e.g. SEG-0123"),
        _latitude(),
        _longitude(),
        Field("window_seconds", FieldType.INT, "Length of the counting window ending at event_time",
              unit="s", min=1, max=3600),
        Field("vehicle_count", FieldType.INT, "Vehicles that passed in the window", unit="vehicles",
              min=0, max=10_000),
        Field("car_count", FieldType.INT, "Cars that passed", unit="vehicles", min=0, max=10_000),
        Field("bus_count", FieldType.INT, "Buses that passed", unit="vehicles", min=0, max=10_000),
        Field("truck_count", FieldType.INT, "Trucks that passed", unit="vehicles", min=0, max=10_000),
        Field("emergency_count", FieldType.INT, "Emergency vehicles that passed", unit="vehicles",
              min=0, max=10_000),
        _speed("mean_speed_kmh", "Mean speed of the vehicles that passed; null when none passed",
               nullable=True),
    ),
)

WEATHER = EventContract(
    name="weather",
    topic="smartcity.weather",
    key="station_id",
    description="Weather and air-quality reading of a zone's station, every minute.",
    fields=(
        _event_id(),
        Field("station_id", FieldType.STRING, "Weather station identifier, e.g. WS-Z03"),
        _event_time(),
        Field("zone_id", FieldType.STRING, "City zone the station represents, e.g. Z03"),
        _latitude(),
        _longitude(),
        Field("temperature_c", FieldType.DOUBLE, "Air temperature", unit="°C", min=-60, max=60),
        Field("humidity_pct", FieldType.DOUBLE, "Relative humidity", unit="%", min=0, max=100),
        Field("precipitation_mm_h", FieldType.DOUBLE, "Precipitation rate", unit="mm/h", min=0, max=300),
        Field("wind_speed_ms", FieldType.DOUBLE, "Mean wind speed", unit="m/s", min=0, max=75),
        Field("wind_direction_deg", FieldType.DOUBLE, "Direction the wind blows from", unit="degrees",
              min=0, max=360),
        Field("pressure_hpa", FieldType.DOUBLE, "Air pressure at sea level", unit="hPa", min=870, max=1085),
        Field("air_quality_index", FieldType.INT, "US EPA air-quality index", min=0, max=500),
        Field("pm25_ugm3", FieldType.DOUBLE, "Fine particulate matter PM2.5", unit="µg/m³", min=0, max=1000),
        Field("condition", FieldType.STRING, "Observed weather condition", allowed=WEATHER_CONDITIONS),
    ),
)

EMERGENCY = EventContract(
    name="emergency",
    topic="smartcity.emergency",
    key="incident_id",
    description=("Update of an emergency incident as it moves through its lifecycle: "
                 "reported → dispatched → on_scene → resolved (one event per status change)."),
    fields=(
        _event_id(),
        Field("incident_id", FieldType.STRING, "Incident identifier, e.g. INC-000123"),
        _event_time(),
        Field("incident_type", FieldType.STRING, "Kind of incident", allowed=INCIDENT_TYPES),
        Field("severity", FieldType.INT, "Severity from 1 (minor) to 5 (critical)", min=1, max=5),
        Field("status", FieldType.STRING, "Lifecycle status after this update", allowed=INCIDENT_STATUSES),
        _latitude(),
        _longitude(),
        Field("zone_id", FieldType.STRING, "City zone of the incident, e.g. Z03"),
        Field("segment_id", FieldType.STRING, "Road segment affected; null when off-road", nullable=True),
        Field("unit_id", FieldType.STRING, "Emergency vehicle assigned; null until dispatched",
              nullable=True),
        Field("vehicles_involved", FieldType.INT, "Vehicles involved in the incident", unit="vehicles",
              min=0, max=50),
    ),
)

CONTRACTS: tuple[EventContract, ...] = (VEHICLE, GPS, TRAFFIC_CAMERA, WEATHER, EMERGENCY)
BY_NAME: dict[str, EventContract] = {c.name: c for c in CONTRACTS}
BY_TOPIC: dict[str, EventContract] = {c.topic: c for c in CONTRACTS}

