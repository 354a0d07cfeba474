"""Incident response: one row per incident, in the hour it was reported, followed through its lifecycle
(reported -> dispatched -> on scene -> resolved) over the updates of that hour and the FOLLOW_HOURS after it,
with the weather in its zone when it was reported; plus a per zone and day view for BI tools.

Why a bounded window: a mart hour is a function of a fixed set of input hours, so recomputing it after any
arrival order (late updates, a backlog landing at once, hours landing in reverse) gives the same rows as a
computation from scratch, and a run's cost does not grow with history. An incident still open when its
window ends keeps the steps reached by then; `followed_until` says when that is, and the mart's check
`incidents_followed_to_the_end` warns about incidents past it that never resolved (in the simulated city
they last under an hour; a real city's longest fires and road closures should stay within the window).
Out-of-order updates never move an incident backwards: each step's time is the first update of that step,
and the status is the furthest step reached, whatever order the updates arrive in.
"""

from smartcity.contracts import column
from smartcity.marts.spec import BiView, Mart, MartInput
from smartcity.quality.rules import Rule

FOLLOW_HOURS = 6  # an incident is followed in the updates of the hour it was reported and the 6 after it

_FROM_UPDATES = "from the event times of the incident's status updates (emergency topic)"

INCIDENT_ZONE_DAY = BiView(
    "incident_zone_day",
    "Incidents per city zone and day (UTC, by time reported): counts by kind and severity, and how fast units "
    "reached and resolved them (response time = reported -> first unit on scene, the measure NFPA 1710 and most "
    "city services report; the 90th percentile is the usual performance target).",
    (
        column("event_date", "date", "UTC date the incidents were reported"),
        column("zone_id", "string", "City zone"),
        column("zone_name", "string", "Name of the zone"),
        column("incidents", "bigint", "Incidents reported"),
        column("collisions", "bigint", "Of which collisions"),
        column("severe_incidents", "bigint", "Of which severity 4 or 5"),
        column("reported_in_rain", "bigint", "Reported while it rained (rain or heavy_rain) at the zone's station"),
        column("resolved", "bigint", "Incidents resolved (so far)"),
        column("mean_minutes_to_scene", "double", "Mean response time (reported -> on scene)", unit="min"),
        column("p90_minutes_to_scene", "double",
               "90th percentile of the response time (continuous percentile over the day's incidents)", unit="min"),
        column("max_minutes_to_scene", "double", "Longest response time", unit="min"),
        column("mean_minutes_to_resolve", "double", "Mean time from report to resolution", unit="min"),
    ),
    """SELECT event_date, zone_id, MIN(zone_name) AS zone_name, COUNT(*) AS incidents,
  SUM(CASE WHEN incident_type = 'collision' THEN 1 ELSE 0 END) AS collisions,
  SUM(CASE WHEN severity >= 4 THEN 1 ELSE 0 END) AS severe_incidents,
  SUM(CASE WHEN weather_condition IN ('rain', 'heavy_rain') THEN 1 ELSE 0 END) AS reported_in_rain,
  SUM(CASE WHEN resolved_at IS NOT NULL THEN 1 ELSE 0 END) AS resolved,
  ROUND(CAST(AVG(minutes_to_scene) AS NUMERIC), 2)::DOUBLE PRECISION AS mean_minutes_to_scene,
  ROUND(CAST(PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY minutes_to_scene) AS NUMERIC), 2)::DOUBLE PRECISION
    AS p90_minutes_to_scene,
  MAX(minutes_to_scene) AS max_minutes_to_scene,
  ROUND(CAST(AVG(minutes_to_resolve) AS NUMERIC), 2)::DOUBLE PRECISION AS mean_minutes_to_resolve
FROM marts.incident_response GROUP BY event_date, zone_id""",
)

INCIDENT_RESPONSE = Mart(
    "incident_response",
    "Emergency incidents, one row each, in the hour they were reported: kind, severity, place, the unit sent, "
    "when it was reported, dispatched, on scene and resolved, the durations between (call handling, travel, "
    f"response, on-scene and total times), and the weather in the zone when it was reported. Followed for "
    f"{FOLLOW_HOURS} hours after the hour reported.",
    (
        column("event_date", "date", "UTC date the incident was reported"),
        column("event_hour", "int", "UTC hour the incident was reported, 0-23"),
        column("incident_id", "string", "Incident identifier"),
        column("incident_type", "string", "collision | breakdown | fire | medical | hazard"),
        column("severity", "int", "1 (minor) to 5 (critical), as reported"),
        column("zone_id", "string", "City zone of the incident"),
        column("zone_name", "string", "Name of the zone"),
        column("segment_id", "string", "Road segment affected; null when off-road"),
        column("road_class", "string", "Road class of the segment; null when off-road"),
        column("latitude", "double", "WGS84 latitude where it was reported (for maps)", unit="degrees"),
        column("longitude", "double", "WGS84 longitude where it was reported (for maps)", unit="degrees"),
        column("vehicles_involved", "int", "Vehicles involved, as reported"),
        column("unit_id", "string", "Emergency vehicle dispatched; null until one is"),
        column("status", "string", "Furthest lifecycle step reached: reported, dispatched, on_scene, resolved"),
        column("reported_at", "timestamp", "When the incident was reported (first 'reported' update), UTC"),
        column("dispatched_at", "timestamp", "When a unit was dispatched (first 'dispatched' update); null if not"),
        column("on_scene_at", "timestamp", "When the unit arrived on scene (first 'on_scene' update); null if not"),
        column("resolved_at", "timestamp", "When the incident was resolved (first 'resolved' update); null if not"),
        column("followed_until", "timestamp",
               f"End of the window the incident is followed in: {FOLLOW_HOURS} h after the end of the hour reported; "
               "steps after it are not in this mart"),
        column("minutes_to_dispatch", "double", f"Call handling time: reported -> dispatched, {_FROM_UPDATES}",
               unit="min"),
        column("minutes_travel", "double", f"Travel time: dispatched -> on scene, {_FROM_UPDATES}", unit="min"),
        column("minutes_to_scene", "double", f"Response time: reported -> on scene, {_FROM_UPDATES}", unit="min"),
        column("minutes_on_scene", "double", f"On-scene time: on scene -> resolved, {_FROM_UPDATES}", unit="min"),
        column("minutes_to_resolve", "double", f"Total time: reported -> resolved, {_FROM_UPDATES}", unit="min"),
        column("weather_condition", "string",
               "Condition at the zone's station at the report: its last reading at or before it (looking back into "
               "the previous hour), else its first reading after"),
        column("precipitation_mm_h", "double", "Precipitation rate of that reading", unit="mm/h"),
        column("temperature_c", "double", "Air temperature of that reading", unit="°C"),
    ),
    inputs=(MartInput("emergency", hours=(0, FOLLOW_HOURS)), MartInput("weather", hours=(-1, 0))),
    summary_column="status",
    views=(INCIDENT_ZONE_DAY,),
    checks=(Rule("incidents_followed_to_the_end", "row",
                 f"every incident resolved within the {FOLLOW_HOURS} hours it is followed (an incident still open "
                 "after them needs a look: its later steps are not in the mart)",
                 predicate="status = 'resolved' OR followed_until > now()", blocking=False),),
)
