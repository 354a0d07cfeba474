"""The environment marts' hours: weather and air quality per zone, and traffic and incidents by weather."""

from __future__ import annotations

from smartcity.lake.layout import Hour
from smartcity.marts.environment import AQI_ALERT, ENVIRONMENT, WEATHER_IMPACT
from smartcity.spark.marts.common import finish


def environment(spark, hour: Hour, inputs: dict):
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    weather = inputs["weather"]
    if weather is None:
        return None
    by_condition = weather.groupBy("zone_id", "condition").agg(F.count(F.lit(1)).alias("n"))
    first = Window.partitionBy("zone_id").orderBy(F.col("n").desc(), "condition")
    dominant = (by_condition.withColumn("_r", F.row_number().over(first)).where("_r = 1")
                .select("zone_id", F.col("condition").alias("dominant_condition")))
    frame = (weather.groupBy("zone_id", "zone_name").agg(
        F.count(F.lit(1)).alias("readings"),
        F.round(F.avg("temperature_c"), 2).alias("mean_temperature_c"),
        F.round(F.avg("humidity_pct"), 2).alias("mean_humidity_pct"),
        F.round(F.avg("precipitation_mm_h"), 2).alias("precipitation_mm"),
        F.max("wind_speed_ms").alias("max_wind_speed_ms"),
        F.round(F.avg("air_quality_index"), 2).alias("mean_aqi"),
        F.max("air_quality_index").alias("max_aqi"),
        F.sum(F.when(F.col("air_quality_index") > AQI_ALERT, 1).otherwise(0)).cast("bigint")
        .alias("minutes_over_aqi_alert"))
        .join(dominant, "zone_id"))
    return finish(frame, ENVIRONMENT, hour, "zone_id")


def weather_impact(spark, hour: Hour, inputs: dict):
    """Per zone and weather condition: minutes, speeds, incidents (minute-level join on zone)."""
    from pyspark.sql import functions as F

    weather = inputs["weather"]
    if weather is None:
        return None
    minute = F.date_trunc("minute", F.col("event_time"))
    conditions = (weather.withColumn("minute", minute).groupBy("zone_id", "minute")
                  .agg(F.min("condition").alias("condition")))  # one reading a minute; min() breaks ties
    per_minute = conditions
    gps = inputs["gps_matched"]
    if gps is not None:
        speeds = (gps.where("segment_id IS NOT NULL").withColumn("minute", minute).groupBy("zone_id", "minute")
                  .agg(F.count(F.lit(1)).alias("fixes"), F.sum("speed_kmh").alias("speed_sum"),
                       F.sum(F.col("speed_kmh") / F.col("speed_limit_kmh")).alias("ratio_sum")))
        per_minute = per_minute.join(speeds, ["zone_id", "minute"], "left")
    incidents = inputs["emergency"]
    if incidents is not None:
        reported = (incidents.where("status = 'reported'").withColumn("minute", minute).groupBy("zone_id", "minute")
                    .agg(F.count(F.lit(1)).alias("incidents"),
                         F.sum(F.when(F.col("incident_type") == "collision", 1).otherwise(0)).alias("collisions")))
        per_minute = per_minute.join(reported, ["zone_id", "minute"], "left")
    for column in ("fixes", "speed_sum", "ratio_sum", "incidents", "collisions"):
        if column not in per_minute.columns:
            per_minute = per_minute.withColumn(column, F.lit(None).cast("double"))
    frame = per_minute.groupBy("zone_id", "condition").agg(
        F.count(F.lit(1)).alias("minutes"),
        F.coalesce(F.sum("fixes"), F.lit(0)).cast("bigint").alias("gps_fixes"),
        F.round(F.sum("speed_sum") / F.sum("fixes"), 2).alias("mean_speed_kmh"),
        F.round(F.sum("ratio_sum") / F.sum("fixes"), 3).alias("mean_speed_ratio"),
        F.coalesce(F.sum("incidents"), F.lit(0)).cast("bigint").alias("incidents_reported"),
        F.coalesce(F.sum("collisions"), F.lit(0)).cast("bigint").alias("collisions_reported"))
    return finish(frame, WEATHER_IMPACT, hour, "zone_id", "condition")
