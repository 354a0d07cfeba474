"""Incident response: one row per incident with its lifecycle times, durations and the weather at the
time, partitioned by the hour it was reported; plus a per zone and day view for BI tools.

An incident's status updates can run past the end of the hour it was reported in (on scene at 10:58,
resolved at 11:20), so the mart's hour H reads the emergency updates of hours H and H+1: a change to
hour H+1 recomputes hour H too (the asset dependency carries that partition mapping and the sensor
follows it). Incidents still open at the end of hour H+1 show the steps reached so far.
"""

from smartcity.contracts import column
from smartcity.marts.spec import BiView, Mart, MartInput


_MINUTES = "minutes, from the updates' event times"

INCIDENT_ZONE_DAY = BiView(
    "incident_zone_day",
    "Incidents per city zone and day (UTC, by time reported): counts by kind and severity, and how fast "
    "units reached and resolved them.",
    (
        column("event_date", "date", "UTC date the incidents were reported"),
        column("zone_id", "string", "City zone"),
        column("zone_name", "string", "Name of the zone"),
        column("incidents", "bigint", "Incidents reported"),
        column("collisions", "bigint", "Of which collisions"),
        column("severe_incidents", "bigint", "Of which severity 4 or 5"),
        column("reported_in_rain", "bigint", "Reported while it rained (rain or heavy_rain) in the zone"),
        column("resolved", "bigint", "Incidents resolved (so far)"),
        column("mean_minutes_to_scene", "double", "Mean time from report to a unit on scene, minutes"),
        column("max_minutes_to_scene", "double", "Longest time from report to a unit on scene, minutes"),
        column("mean_minutes_to_resolve", "double", "Mean time from report to resolution, minutes"),
    ),
    """SELECT event_date, zone_id, MIN(zone_name) AS zone_name, COUNT(*) AS incidents,
  SUM(CASE WHEN incident_type = 'collision' THEN 1 ELSE 0 END) AS collisions,
  SUM(CASE WHEN severity >= 4 THEN 1 ELSE 0 END) AS severe_incidents,
  SUM(CASE WHEN weather_condition IN ('rain', 'heavy_rain') THEN 1 ELSE 0 END) AS reported_in_rain,
  SUM(CASE WHEN resolved_at IS NOT NULL THEN 1 ELSE 0 END) AS resolved,
  ROUND(CAST(AVG(minutes_to_scene) AS NUMERIC), 2)::DOUBLE PRECISION AS mean_minutes_to_scene,
  MAX(minutes_to_scene) AS max_minutes_to_scene,
  ROUND(CAST(AVG(minutes_to_resolve) AS NUMERIC), 2)::DOUBLE PRECISION AS mean_minutes_to_resolve
FROM marts.incident_response GROUP BY event_date, zone_id""",
)

INCIDENT_RESPONSE = Mart(
    "incident_response",
    "Emergency incidents, one row each, in the hour they were reported: kind, severity, place, the unit "
    "sent, when it was reported, dispatched, on scene and resolved, the durations between, and the weather "
    "in the zone when it was reported.",
    (
        column("event_date", "date", "UTC date the incident was reported"),
        column("event_hour", "int", "UTC hour the incident was reported, 0-23"),
        column("incident_id", "string", "Incident identifier"),
        column("incident_type", "string", "collision | breakdown | fire | medical | hazard"),
        column("severity", "int", "1 (minor) to 5 (critical)"),
        column("zone_id", "string", "City zone of the incident"),
        column("zone_name", "string", "Name of the zone"),
        column("segment_id", "string", "Road segment affected; null when off-road"),
        column("road_class", "string", "Road class of the segment; null when off-road"),
        column("latitude", "double", "WGS84 latitude where it was reported (for maps)"),
        column("longitude", "double", "WGS84 longitude where it was reported (for maps)"),
        column("vehicles_involved", "int", "Vehicles involved, as reported"),
        column("unit_id", "string", "Emergency vehicle dispatched; null until one is"),
        column("status", "string", "Furthest lifecycle step reached: reported, dispatched, on_scene, resolved"),
        column("reported_at", "timestamp", "When the incident was reported (UTC)"),
        column("dispatched_at", "timestamp", "When a unit was dispatched; null if not (yet)"),
        column("on_scene_at", "timestamp", "When the unit arrived on scene; null if not (yet)"),
        column("resolved_at", "timestamp", "When the incident was resolved; null if not (yet)"),
        column("minutes_to_dispatch", "double", f"reported -> dispatched, {_MINUTES}"),
        column("minutes_to_scene", "double", f"reported -> on scene (response time), {_MINUTES}"),
        column("minutes_on_scene", "double", f"on scene -> resolved, {_MINUTES}"),
        column("minutes_to_resolve", "double", f"reported -> resolved, {_MINUTES}"),
        column("weather_condition", "string", "Condition at the zone's station at the report (last reading)"),
        column("precipitation_mm_h", "double", "Precipitation rate then, mm/h"),
        column("temperature_c", "double", "Air temperature then, °C"),
    ),
    views=(INCIDENT_ZONE_DAY,),
    inputs=(MartInput("emergency", next_hour=True), MartInput("weather")), summary_column="status",
)
