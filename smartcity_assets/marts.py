"""Marts: tables for BI tools, computed per hourly partition and loaded into the warehouse.

Each mart partition is computed from the transformed partitions of the same hour, written to the lake
(`marts/<mart>/event_date=/event_hour=/data.parquet`, atomic replace) and loaded into the warehouse by
replacing that partition in one transaction, so recomputing an hour after late data changes exactly
that hour's rows. BI tools read the views in the warehouse's `bi` schema.
"""

from typing import Literal

import dagster as dg
from dagster_pyspark import PySparkResource

from smartcity import reference
from smartcity.lake import Lake
from smartcity.warehouse.postgres import PostgresWarehouse
from smartcity.warehouse.redshift import RedshiftWarehouse
from smartcity.warehouse.tables import MartColumn, MartTable
from smartcity_assets.metadata import OWNERS
from smartcity_assets.partitions import HOURLY, date_hour
from smartcity_assets.resources import LakeResource
from smartcity_assets.transformed import transformed_key, transformed_path

# Ratio of mean speed to the speed limit -> congestion level (thresholds as in common practice for
# urban travel-time indices).
CONGESTION_LEVELS = ((0.8, "free"), (0.6, "moderate"), (0.4, "heavy"), (0.0, "severe"))

TRAFFIC_CONGESTION = MartTable(
    "traffic_congestion",
    "Traffic per road segment and hour: GPS-observed vehicles and speeds (mean, 85th percentile), their ratio "
    "to the speed limit and a congestion level, with the camera count where the segment has a camera.",
    (
        MartColumn("event_date", "date", "UTC date of the hour"),
        MartColumn("event_hour", "int", "UTC hour, 0-23"),
        MartColumn("segment_id", "string", "Directed road segment"),
        MartColumn("zone_id", "string", "City zone of the segment"),
        MartColumn("road_class", "string", "ring | arterial | residential"),
        MartColumn("speed_limit_kmh", "double", "Speed limit (free-flow speed), km/h"),
        MartColumn("gps_fixes", "bigint", "GPS fixes matched to the segment in the hour"),
        MartColumn("vehicles", "bigint", "Distinct vehicles seen on the segment in the hour (GPS)"),
        MartColumn("mean_speed_kmh", "double", "Mean GPS speed on the segment, km/h"),
        MartColumn("p85_speed_kmh", "double", "85th percentile of GPS speed, km/h (linear interpolation)"),
        MartColumn("speed_ratio", "double", "mean_speed_kmh / speed_limit_kmh"),
        MartColumn("congestion_level", "string",
                   "free (ratio >= 0.8), moderate (>= 0.6), heavy (>= 0.4), severe (< 0.4)"),
        MartColumn("camera_vehicles", "bigint", "Vehicles counted by the segment's camera; null without camera"),
    ),
)


class WarehouseResource(dg.ConfigurableResource):
    """PostgreSQL (embedded default, or any URL) or Amazon Redshift. The URL carries the credentials and
    comes from SMARTCITY_WAREHOUSE_URL through dg.EnvVar when it is a secret."""

    kind: Literal["postgres", "redshift"]
    url: str
    redshift_iam_role: str | None = None

    def warehouse(self) -> PostgresWarehouse | RedshiftWarehouse:
        if self.kind == "redshift":
            return RedshiftWarehouse(self.url, self.redshift_iam_role or "")
        return PostgresWarehouse(self.url)


def traffic_congestion_frame(spark, lake: Lake, partition_key: str):
    """The mart for one hour, from transformed/gps_matched and transformed/traffic_camera."""
    from pyspark.sql import functions as F

    gps, cameras = (_read_transformed(spark, lake, n, partition_key) for n in ("gps_matched", "traffic_camera"))
    date, hour = date_hour(partition_key)
    segments = F.broadcast(spark.createDataFrame(reference.segments().to_pandas())
                           .select("segment_id", "zone_id", "road_class", "speed_limit_kmh"))
    if gps is None:
        return None
    level = F.lit(CONGESTION_LEVELS[-1][1])
    for threshold, name in reversed(CONGESTION_LEVELS[:-1]):
        level = F.when(F.col("speed_ratio") >= threshold, name).otherwise(level)
    observed = (gps.where("segment_id IS NOT NULL").groupBy("segment_id")
                .agg(F.count(F.lit(1)).alias("gps_fixes"), F.countDistinct("vehicle_id").alias("vehicles"),
                     F.round(F.avg("speed_kmh"), 2).alias("mean_speed_kmh"),
                     F.round(F.percentile("speed_kmh", F.lit(0.85)), 2).alias("p85_speed_kmh")))
    frame = observed.join(segments, "segment_id").withColumn(
        "speed_ratio", F.round(F.col("mean_speed_kmh") / F.col("speed_limit_kmh"), 3)).withColumn(
        "congestion_level", level)
    if cameras is not None:
        counts = cameras.groupBy("segment_id").agg(F.sum("vehicle_count").cast("bigint").alias("camera_vehicles"))
        frame = frame.join(counts, "segment_id", "left")
    else:
        frame = frame.withColumn("camera_vehicles", F.lit(None).cast("bigint"))
    frame = frame.withColumn("event_date", F.to_date(F.lit(date))).withColumn("event_hour", F.lit(hour))
    return frame.select(*[c.name for c in TRAFFIC_CONGESTION.columns]).orderBy("segment_id")


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

    weather = _read_transformed(spark, lake, "weather", partition_key)
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

    weather = _read_transformed(spark, lake, "weather", partition_key)
    if weather is None:
        return None
    date, hour = date_hour(partition_key)
    minute = F.date_trunc("minute", F.col("event_time"))
    conditions = (weather.withColumn("minute", minute).groupBy("zone_id", "minute")
                  .agg(F.min("condition").alias("condition")))  # one reading a minute; min() breaks ties
    gps = _read_transformed(spark, lake, "gps_matched", partition_key)
    speeds = None
    if gps is not None:
        speeds = (gps.where("segment_id IS NOT NULL").withColumn("minute", minute).groupBy("zone_id", "minute")
                  .agg(F.count(F.lit(1)).alias("fixes"), F.sum("speed_kmh").alias("speed_sum"),
                       F.sum(F.col("speed_kmh") / F.col("speed_limit_kmh")).alias("ratio_sum")))
    incidents = _read_transformed(spark, lake, "emergency", partition_key)
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


def _read_transformed(spark, lake: Lake, name: str, partition_key: str):
    path = lake.path(transformed_path(name, partition_key))
    if not lake.exists(path):
        return None
    return spark.read.parquet(("s3a://" + path) if lake.is_s3 else path)


def build_mart(table: MartTable, compute, inputs: list[str], summary_column: str) -> dg.AssetsDefinition:
    """A mart asset: compute the hour with Spark, write the lake copy, replace the warehouse partition."""

    @dg.asset(key=["marts", table.name], partitions_def=HOURLY, group_name="marts",
              deps=[transformed_key(i) for i in inputs], kinds={"spark", "postgres", "redshift"}, owners=OWNERS,
              description=f"{table.description} Warehouse table {table.qualified}, BI view bi.{table.name}.",
              metadata={"dagster/column_schema": dg.TableSchema(columns=[
                  dg.TableColumn(c.name, c.type, description=c.comment) for c in table.columns]),
                  "warehouse_table": table.qualified})
    def _asset(context: dg.AssetExecutionContext, lake: LakeResource, pyspark: PySparkResource,
               warehouse: WarehouseResource) -> dg.MaterializeResult:
        import pyarrow as pa

        store = lake.lake()
        frame = compute(pyspark.spark_session, store, context.partition_key)
        data = frame.toArrow() if frame is not None else pa.table({c.name: [] for c in table.columns})
        date, hour = date_hour(context.partition_key)
        path = f"marts/{table.name}/event_date={date}/event_hour={hour:02d}/data.parquet"
        store.write_parquet(data, store.path(path))
        target = warehouse.warehouse()
        target.ensure_table(table)
        partition = {"event_date": date, "event_hour": hour}
        if isinstance(target, RedshiftWarehouse):
            target.replace_partition_from_s3(table, partition, store.uri_of(store.path(path)))
        else:
            target.replace_partition(table, partition, data)
        counts: dict[str, int] = {}
        for value in data.column(summary_column).to_pylist() if data.num_rows else []:
            counts[str(value)] = counts.get(str(value), 0) + 1
        return dg.MaterializeResult(metadata={
            "dagster/row_count": data.num_rows, f"rows_by_{summary_column}": counts,
            "warehouse_table": table.qualified, "dagster/uri": store.uri_of(store.path(path))})

    return _asset


MARTS = [
    build_mart(TRAFFIC_CONGESTION, traffic_congestion_frame, ["gps_matched", "traffic_camera"], "congestion_level"),
    build_mart(ENVIRONMENT, environment_frame, ["weather"], "dominant_condition"),
    build_mart(WEATHER_IMPACT, weather_impact_frame, ["weather", "gps_matched", "emergency"], "condition"),
]
