"""Environment marts: weather and air quality per zone and hour, and the weather's impact on traffic."""

from smartcity.lake import Lake
from smartcity.warehouse.tables import MartColumn, MartTable
from smartcity_assets.marts.build import read_transformed
from smartcity_assets.partitions import date_hour

AQI_ALERT = 100  # US EPA: above 100 the air is unhealthy for sensitive groups

ENVIRONMENT = MartTable(
    "environment",
    "Weather and air quality per city zone and hour, from the zone's station: means and extremes, and "
    f"how many minutes the air-quality index was above the alert threshold ({AQI_ALERT}).",
    (
        MartColumn("event_date", "date", "UTC date of the hour"),
        MartColumn("event_hour", "int", "UTC hour, 0-23"),
        MartColumn("zone_id", "string", "City zone"),
        MartColumn("zone_name", "string", "Name of the zone"),
        MartColumn("readings", "bigint", "Station readings in the hour (one a minute when all arrive)"),
        MartColumn("mean_temperature_c", "double", "Mean air temperature, °C"),
        MartColumn("mean_humidity_pct", "double", "Mean relative humidity, %"),
        MartColumn("precipitation_mm", "double", "Precipitation in the hour, mm (mean rate x 1 h)"),
        MartColumn("max_wind_speed_ms", "double", "Highest wind speed, m/s"),
        MartColumn("mean_aqi", "double", "Mean US EPA air-quality index"),
        MartColumn("max_aqi", "int", "Highest air-quality index"),
        MartColumn("minutes_over_aqi_alert", "bigint", f"Readings (minutes) with AQI above {AQI_ALERT}"),
        MartColumn("dominant_condition", "string", "Most frequent weather condition (ties: alphabetical)"),
    ),
)


def environment_frame(spark, lake: Lake, partition_key: str):
    """The environment mart for one hour, from transformed/weather."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    weather = read_transformed(spark, lake, "weather", partition_key)
    if weather is None:
        return None
    date, hour = date_hour(partition_key)
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
        .join(dominant, "zone_id")
        .withColumn("event_date", F.to_date(F.lit(date))).withColumn("event_hour", F.lit(hour)))
    return frame.select(*[c.name for c in ENVIRONMENT.columns]).orderBy("zone_id")


WEATHER_IMPACT = MartTable(
    "weather_impact",
    "Traffic and incidents by weather condition, per zone and hour: how fast traffic flows (relative to the "
    "speed limit) and how many incidents are reported while it is clear, raining, foggy, snowing.",
    (
        MartColumn("event_date", "date", "UTC date of the hour"),
        MartColumn("event_hour", "int", "UTC hour, 0-23"),
        MartColumn("zone_id", "string", "City zone"),
        MartColumn("condition", "string", "Weather condition reported by the zone's station for the minute"),
        MartColumn("minutes", "bigint", "Minutes of the hour with this condition in the zone"),
        MartColumn("gps_fixes", "bigint", "GPS fixes on roads of the zone during those minutes"),
        MartColumn("mean_speed_kmh", "double", "Mean GPS speed, km/h"),
        MartColumn("mean_speed_ratio", "double", "Mean of speed / speed limit of the road driven on"),
        MartColumn("incidents_reported", "bigint", "Incidents reported in the zone during those minutes"),
        MartColumn("collisions_reported", "bigint", "Of which collisions"),
    ),
)


def weather_impact_frame(spark, lake: Lake, partition_key: str):
    """Per zone and weather condition: minutes, speeds, incidents (minute-level join on zone)."""
    from pyspark.sql import functions as F

    weather = read_transformed(spark, lake, "weather", partition_key)
    if weather is None:
        return None
    date, hour = date_hour(partition_key)
    minute = F.date_trunc("minute", F.col("event_time"))
    conditions = (weather.withColumn("minute", minute).groupBy("zone_id", "minute")
                  .agg(F.min("condition").alias("condition")))  # one reading a minute; min() breaks ties
    gps = read_transformed(spark, lake, "gps_matched", partition_key)
    speeds = None
    if gps is not None:
        speeds = (gps.where("segment_id IS NOT NULL").withColumn("minute", minute).groupBy("zone_id", "minute")
                  .agg(F.count(F.lit(1)).alias("fixes"), F.sum("speed_kmh").alias("speed_sum"),
                       F.sum(F.col("speed_kmh") / F.col("speed_limit_kmh")).alias("ratio_sum")))
    incidents = read_transformed(spark, lake, "emergency", partition_key)
    reported = None
    if incidents is not None:
        reported = (incidents.where("status = 'reported'").withColumn("minute", minute).groupBy("zone_id", "minute")
                    .agg(F.count(F.lit(1)).alias("incidents"),
                         F.sum(F.when(F.col("incident_type") == "collision", 1).otherwise(0)).alias("collisions")))
    per_minute = conditions
    for extra in (speeds, reported):
        if extra is not None:
            per_minute = per_minute.join(extra, ["zone_id", "minute"], "left")
    for column in ("fixes", "speed_sum", "ratio_sum", "incidents", "collisions"):
        if column not in per_minute.columns:
            per_minute = per_minute.withColumn(column, F.lit(None).cast("double"))
    frame = (per_minute.groupBy("zone_id", "condition").agg(
        F.count(F.lit(1)).alias("minutes"),
        F.coalesce(F.sum("fixes"), F.lit(0)).cast("bigint").alias("gps_fixes"),
        F.round(F.sum("speed_sum") / F.sum("fixes"), 2).alias("mean_speed_kmh"),
        F.round(F.sum("ratio_sum") / F.sum("fixes"), 3).alias("mean_speed_ratio"),
        F.coalesce(F.sum("incidents"), F.lit(0)).cast("bigint").alias("incidents_reported"),
        F.coalesce(F.sum("collisions"), F.lit(0)).cast("bigint").alias("collisions_reported"))
        .withColumn("event_date", F.to_date(F.lit(date))).withColumn("event_hour", F.lit(hour)))
    return frame.select(*[c.name for c in WEATHER_IMPACT.columns]).orderBy("zone_id", "condition")
