"""The incident response mart's hour: the incidents reported in it, followed through their updates over the
spec's window (the hour and FOLLOW_HOURS after it), with the weather in their zone when they were reported
(the readings of the hour and the one before)."""

from __future__ import annotations

from datetime import timedelta

from smartcity.contracts import INCIDENT_STATUSES
from smartcity.lake.layout import Hour
from smartcity.marts.incidents import FOLLOW_HOURS, INCIDENT_RESPONSE
from smartcity.spark.marts.common import finish


def incident_response(spark, hour: Hour, inputs: dict):
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    updates = inputs["emergency"]  # the updates of this hour and the FOLLOW_HOURS after it
    if updates is None:
        return None
    in_hour = (F.col("event_time") >= F.lit(hour.start)) & (F.col("event_time") < F.lit(hour.end))
    reports = (updates.where((F.col("status") == "reported") & in_hour)
               .withColumn("_n", F.row_number().over(Window.partitionBy("incident_id").orderBy("event_time",
                                                                                              "event_id")))
               .where("_n = 1")
               .select("incident_id", "incident_type", "severity", "zone_id", "zone_name", "segment_id",
                       "road_class", "latitude", "longitude", "vehicles_involved",
                       F.col("event_time").alias("reported_at")))
    until = hour.end + timedelta(hours=FOLLOW_HOURS)
    updates = (updates.where(F.col("event_time") < F.lit(until))  # the window, whatever the inputs hold
               .join(reports.select("incident_id"), "incident_id"))  # only the incidents of this hour

    def first_time(status: str):
        return F.min(F.when(F.col("status") == status, F.col("event_time")))

    step = F.max(F.array_position(F.array(*map(F.lit, INCIDENT_STATUSES)), F.col("status")))
    lifecycle = updates.groupBy("incident_id").agg(
        first_time("dispatched").alias("dispatched_at"), first_time("on_scene").alias("on_scene_at"),
        first_time("resolved").alias("resolved_at"), F.max("unit_id").alias("unit_id"),
        F.element_at(F.array(*map(F.lit, INCIDENT_STATUSES)), step.cast("int")).alias("status"))

    def minutes(start: str, end: str):
        return F.round((F.unix_micros(F.col(end)) - F.unix_micros(F.col(start))) / 60e6, 2)

    weather = inputs["weather"]  # the readings of this hour and the previous one
    frame = reports.join(lifecycle, "incident_id").withColumn("followed_until", F.lit(until))
    if weather is not None:  # the zone's last reading at or before the report, else its first one after
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
             .withColumn("minutes_travel", minutes("dispatched_at", "on_scene_at"))
             .withColumn("minutes_to_scene", minutes("reported_at", "on_scene_at"))
             .withColumn("minutes_on_scene", minutes("on_scene_at", "resolved_at"))
             .withColumn("minutes_to_resolve", minutes("reported_at", "resolved_at")))
    return finish(frame, INCIDENT_RESPONSE, hour, "reported_at", "incident_id")
