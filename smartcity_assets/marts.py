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

    def read(name):
        path = lake.path(transformed_path(name, partition_key))
        return spark.read.parquet(("s3a://" + path) if lake.is_s3 else path) if lake.exists(path) else None

    gps, cameras = read("gps_matched"), read("traffic_camera")
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


@dg.asset(key=["marts", "traffic_congestion"], partitions_def=HOURLY, group_name="marts",
          deps=[transformed_key("gps_matched"), transformed_key("traffic_camera")],
          kinds={"spark", "postgres", "redshift"}, owners=OWNERS,
          description=TRAFFIC_CONGESTION.description + " Warehouse table marts.traffic_congestion, BI view "
                      "bi.traffic_congestion.",
          metadata={"dagster/column_schema": dg.TableSchema(columns=[
              dg.TableColumn(c.name, c.type, description=c.comment) for c in TRAFFIC_CONGESTION.columns]),
              "warehouse_table": TRAFFIC_CONGESTION.qualified})
def traffic_congestion(context: dg.AssetExecutionContext, lake: LakeResource, pyspark: PySparkResource,
                       warehouse: WarehouseResource) -> dg.MaterializeResult:
    store = lake.lake()
    frame = traffic_congestion_frame(pyspark.spark_session, store, context.partition_key)
    table = frame.toArrow() if frame is not None else None
    if table is None:
        import pyarrow as pa

        table = pa.table({c.name: [] for c in TRAFFIC_CONGESTION.columns})
    path = f"marts/traffic_congestion/event_date={context.partition_key[:10]}/event_hour={context.partition_key[11:13]}/data.parquet"
    store.write_parquet(table, store.path(path))
    target = warehouse.warehouse()
    target.ensure_table(TRAFFIC_CONGESTION)
    date, hour = date_hour(context.partition_key)
    partition = {"event_date": date, "event_hour": hour}
    if isinstance(target, RedshiftWarehouse):
        target.replace_partition_from_s3(TRAFFIC_CONGESTION, partition, store.uri_of(store.path(path)))
    else:
        target.replace_partition(TRAFFIC_CONGESTION, partition, table)
    levels = {}
    for level in table.column("congestion_level").to_pylist() if table.num_rows else []:
        levels[level] = levels.get(level, 0) + 1
    return dg.MaterializeResult(metadata={
        "dagster/row_count": table.num_rows, "segments_by_congestion_level": levels,
        "warehouse_table": TRAFFIC_CONGESTION.qualified, "dagster/uri": store.uri_of(store.path(path))})


MARTS = [traffic_congestion]
