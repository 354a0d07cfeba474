"""The five kinds of city telemetry: for each, its Kafka topic, entity key and fields (type, unit, range or
allowed values, nullability, description). The one source of truth: the simulator's output, the validator
that decides what is quarantined, the raw zone's Arrow schema and every later schema (Spark, pandera, Glue,
DuckDB, the warehouse, Dagster's column metadata) are derived from here.
"""

from __future__ import annotations

from smartcity.contracts.contract import EventContract
from smartcity.contracts.model import Field, FieldType

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

