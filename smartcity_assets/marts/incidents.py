"""Incident response: one row per incident with its lifecycle times, durations and the weather at the
time, partitioned by the hour it was reported; plus a per zone and day view for BI tools.

An incident's status updates can run past the end of the hour it was reported in (on scene at 10:58,
resolved at 11:20), so the mart's hour H reads the emergency updates of hours H and H+1: a change to
hour H+1 recomputes hour H too (the asset dependency carries that partition mapping and the sensor
follows it). Incidents still open at the end of hour H+1 show the steps reached so far.
"""

from smartcity.contracts import INCIDENT_STATUSES
from smartcity.lake import Lake
from smartcity.warehouse.tables import BiView, MartColumn, MartTable
from smartcity_assets.marts.build import read_transformed
from smartcity_assets.partitions import date_hour, following_hour

_MINUTES = "minutes, from the updates' event times"

INCIDENT_ZONE_DAY = BiView(
    "incident_zone_day",
    "Incidents per city zone and day (UTC, by time reported): counts by kind and severity, and how fast "
    "units reached and resolved them.",
    (
        MartColumn("event_date", "date", "UTC date the incidents were reported"),
        MartColumn("zone_id", "string", "City zone"),
        MartColumn("zone_name", "string", "Name of the zone"),
        MartColumn("incidents", "bigint", "Incidents reported"),
        MartColumn("collisions", "bigint", "Of which collisions"),
        MartColumn("severe_incidents", "bigint", "Of which severity 4 or 5"),
        MartColumn("reported_in_rain", "bigint", "Reported while it rained (rain or heavy_rain) in the zone"),
        MartColumn("resolved", "bigint", "Incidents resolved (so far)"),
        MartColumn("mean_minutes_to_scene", "double", "Mean time from report to a unit on scene, minutes"),
        MartColumn("max_minutes_to_scene", "double", "Longest time from report to a unit on scene, minutes"),
        MartColumn("mean_minutes_to_resolve", "double", "Mean time from report to resolution, minutes"),
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

INCIDENT_RESPONSE = MartTable(
    "incident_response",
    "Emergency incidents, one row each, in the hour they were reported: kind, severity, place, the unit "
    "sent, when it was reported, dispatched, on scene and resolved, the durations between, and the weather "
    "in the zone when it was reported.",
    (
        MartColumn("event_date", "date", "UTC date the incident was reported"),
        MartColumn("event_hour", "int", "UTC hour the incident was reported, 0-23"),
        MartColumn("incident_id", "string", "Incident identifier"),
        MartColumn("incident_type", "string", "collision | breakdown | fire | medical | hazard"),
        MartColumn("severity", "int", "1 (minor) to 5 (critical)"),
        MartColumn("zone_id", "string", "City zone of the incident"),
        MartColumn("zone_name", "string", "Name of the zone"),
        MartColumn("segment_id", "string", "Road segment affected; null when off-road"),
        MartColumn("road_class", "string", "Road class of the segment; null when off-road"),
        MartColumn("latitude", "double", "WGS84 latitude where it was reported (for maps)"),
        MartColumn("longitude", "double", "WGS84 longitude where it was reported (for maps)"),
        MartColumn("vehicles_involved", "int", "Vehicles involved, as reported"),
        MartColumn("unit_id", "string", "Emergency vehicle dispatched; null until one is"),
        MartColumn("status", "string", "Furthest lifecycle step reached: reported, dispatched, on_scene, resolved"),
        MartColumn("reported_at", "timestamp", "When the incident was reported (UTC)"),
        MartColumn("dispatched_at", "timestamp", "When a unit was dispatched; null if not (yet)"),
        MartColumn("on_scene_at", "timestamp", "When the unit arrived on scene; null if not (yet)"),
        MartColumn("resolved_at", "timestamp", "When the incident was resolved; null if not (yet)"),
        MartColumn("minutes_to_dispatch", "double", f"reported -> dispatched, {_MINUTES}"),
        MartColumn("minutes_to_scene", "double", f"reported -> on scene (response time), {_MINUTES}"),
        MartColumn("minutes_on_scene", "double", f"on scene -> resolved, {_MINUTES}"),
        MartColumn("minutes_to_resolve", "double", f"reported -> resolved, {_MINUTES}"),
        MartColumn("weather_condition", "string", "Condition at the zone's station at the report (last reading)"),
        MartColumn("precipitation_mm_h", "double", "Precipitation rate then, mm/h"),
        MartColumn("temperature_c", "double", "Air temperature then, °C"),
    ),
    views=(INCIDENT_ZONE_DAY,),
)


def incident_response_frame(spark, lake: Lake, partition_key: str):
    """Incidents reported in the hour, followed through the updates of this hour and the next."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    this_hour = read_transformed(spark, lake, "emergency", partition_key)
    if this_hour is None:
        return None
    date, hour = date_hour(partition_key)
    reports = (this_hour.where("status = 'reported'")
               .withColumn("_n", F.row_number().over(Window.partitionBy("incident_id").orderBy("event_time",
                                                                                              "event_id")))
               .where("_n = 1")
               .select("incident_id", "incident_type", "severity", "zone_id", "zone_name", "segment_id",
                       "road_class", "latitude", "longitude", "vehicles_involved",
                       F.col("event_time").alias("reported_at")))
    updates = this_hour
    next_hour = read_transformed(spark, lake, "emergency", following_hour(partition_key))
    if next_hour is not None:
        updates = updates.unionByName(next_hour)
    updates = updates.join(reports.select("incident_id"), "incident_id")  # only the incidents of this hour

    def first_time(status: str):
        return F.min(F.when(F.col("status") == status, F.col("event_time")))

    step = F.max(F.array_position(F.array(*map(F.lit, INCIDENT_STATUSES)), F.col("status")))
    lifecycle = updates.groupBy("incident_id").agg(
        first_time("dispatched").alias("dispatched_at"), first_time("on_scene").alias("on_scene_at"),
        first_time("resolved").alias("resolved_at"), F.max("unit_id").alias("unit_id"),
        F.element_at(F.array(*map(F.lit, INCIDENT_STATUSES)), step.cast("int")).alias("status"))

    def minutes(start: str, end: str):
        return F.round((F.unix_micros(F.col(end)) - F.unix_micros(F.col(start))) / 60e6, 2)

    weather = read_transformed(spark, lake, "weather", partition_key)
    frame = reports.join(lifecycle, "incident_id")
    if weather is not None:  # the zone's last reading at or before the report, else its first of the hour
        readings = weather.select("zone_id", F.col("event_time").alias("_wt"), F.col("condition").alias(
            "weather_condition"), "precipitation_mm_h", "temperature_c", F.col("event_id").alias("_we"))
        candidates = frame.join(readings, "zone_id", "left")
        order = Window.partitionBy("incident_id").orderBy(
            (F.col("_wt") > F.col("reported_at")).asc_nulls_last(),  # at or before the report first
            F.when(F.col("_wt") <= F.col("reported_at"), F.unix_micros("_wt") * -1)
            .otherwise(F.unix_micros("_wt")), "_we")
        frame = candidates.withColumn("_r", F.row_number().over(order)).where("_r = 1").drop("_r", "_wt", "_we")
    else:
        frame = (frame.withColumn("weather_condition", F.lit(None).cast("string"))
                 .withColumn("precipitation_mm_h", F.lit(None).cast("double"))
                 .withColumn("temperature_c", F.lit(None).cast("double")))
    frame = (frame.withColumn("minutes_to_dispatch", minutes("reported_at", "dispatched_at"))
             .withColumn("minutes_to_scene", minutes("reported_at", "on_scene_at"))
             .withColumn("minutes_on_scene", minutes("on_scene_at", "resolved_at"))
             .withColumn("minutes_to_resolve", minutes("reported_at", "resolved_at"))
             .withColumn("event_date", F.to_date(F.lit(date))).withColumn("event_hour", F.lit(hour)))
    return frame.select(*[c.name for c in INCIDENT_RESPONSE.columns]).orderBy("reported_at", "incident_id")
