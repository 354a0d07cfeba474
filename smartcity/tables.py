"""The transformed tables: one per source (deduplicated, typed, enriched) plus the GPS fixes matched to the
road network. What each table is — its columns, their meaning and where they come from — is declared here
once; the Spark transforms (`smartcity.spark.transform`), the quality rules (`smartcity.quality`), the
catalog, the Dagster assets and the sensor all read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from smartcity import contracts
from smartcity.contracts import KAFKA_FIELDS, EventContract, Field, column

MATCH_RADIUS_M = 50.0  # a GPS fix farther than this from every road is left unmatched


@dataclass(frozen=True)
class TransformedTable:
    name: str
    contract: EventContract
    description: str
    extra_columns: tuple[Field, ...] = ()  # enrichment, after the contract's fields
    lineage: dict[str, tuple[str, ...]] = field(default_factory=dict)  # derived column -> input columns
    source: str | None = None  # the raw source it is computed from; None: from `upstream_table`
    upstream_table: str | None = None

    @property
    def columns(self) -> tuple[Field, ...]:
        """Every column in table order: the contract's fields, the enrichment, the Kafka envelope."""
        return (*self.contract.fields, *self.extra_columns, *KAFKA_FIELDS)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


ZONE = column("zone_id", "string", "City zone the event lies in (from its coordinates)")
ZONE_NAME = column("zone_name", "string", "Name of the city zone")
_POSITION = ("latitude", "longitude")
_ROAD = ("latitude", "longitude", "heading_deg")

TABLES: tuple[TransformedTable, ...] = (
    TransformedTable("vehicle", contracts.VEHICLE,
                     "Vehicle telemetry, one row per report, with the city zone the vehicle was in.",
                     (ZONE, ZONE_NAME), {"zone_id": _POSITION, "zone_name": _POSITION}, source="vehicle"),
    TransformedTable("gps", contracts.GPS,
                     "GPS fixes of vehicles, one row per fix, with the city zone of the position.",
                     (ZONE, ZONE_NAME), {"zone_id": _POSITION, "zone_name": _POSITION}, source="gps"),
    TransformedTable(
        "traffic_camera", contracts.TRAFFIC_CAMERA,
        "Per-minute vehicle counts and mean speeds per camera and road segment, with the segment's zone, road "
        "class and speed limit, and the ratio of mean speed to the limit (congestion indicator).",
        (column("zone_id", "string", "City zone of the road segment"),
         column("road_class", "string", "ring | arterial | residential"),
         column("speed_limit_kmh", "double", "Free-flow speed limit of the segment", unit="km/h"),
         column("speed_ratio", "double", "mean_speed_kmh / speed_limit_kmh; below ~0.5 means congestion")),
        {"zone_id": ("segment_id",), "road_class": ("segment_id",), "speed_limit_kmh": ("segment_id",),
         "speed_ratio": ("mean_speed_kmh", "segment_id")}, source="traffic_camera"),
    TransformedTable("weather", contracts.WEATHER,
                     "Weather and air quality per zone station and minute, with the zone's name.",
                     (ZONE_NAME,), {"zone_name": ("zone_id",)}, source="weather"),
    TransformedTable(
        "emergency", contracts.EMERGENCY,
        "Emergency incident status updates (reported, dispatched, on scene, resolved), with zone name and the "
        "road class of the affected segment.",
        (ZONE_NAME, column("road_class", "string", "Road class of the affected segment; null when off-road")),
        {"zone_name": ("zone_id",), "road_class": ("segment_id",)}, source="emergency"),
    TransformedTable(
        "gps_matched", contracts.GPS,
        "GPS fixes matched to the road network: the road segment each vehicle was driving on (nearest segment "
        f"within {MATCH_RADIUS_M:.0f} m in the direction of travel), its road class, speed limit and zone, and "
        "the distance from the fix to the road. Serves traffic speeds per segment and route analysis; unmatched "
        "fixes keep null segment columns.",
        (column("segment_id", "string", f"Matched directed road segment; null if no road within "
                                        f"{MATCH_RADIUS_M:.0f} m"),
         column("match_distance_m", "double", "Distance from the fix to the matched segment", unit="m"),
         column("road_class", "string", "ring | arterial | residential"),
         column("speed_limit_kmh", "double", "Speed limit of the matched segment", unit="km/h"),
         ZONE, ZONE_NAME),
        {"segment_id": _ROAD, "match_distance_m": _POSITION, "road_class": _ROAD, "speed_limit_kmh": _ROAD,
         "zone_id": _POSITION, "zone_name": _POSITION},
        upstream_table="gps"),
)
BY_NAME: dict[str, TransformedTable] = {t.name: t for t in TABLES}


def fed_by(source: str) -> list[str]:
    """Tables to recompute when a raw source's hour changes, upstream first (and those built on them)."""
    direct = [t.name for t in TABLES if t.source == source]
    return direct + [t.name for t in TABLES if t.upstream_table in direct]
