"""The traffic congestion mart's hour, from the map-matched GPS fixes and the camera counts."""

from __future__ import annotations

from smartcity import reference
from smartcity.lake.layout import Hour
from smartcity.marts.traffic import CONGESTION_LEVELS, TRAFFIC_CONGESTION
from smartcity.spark.inputs import reference_frame
from smartcity.spark.marts.common import finish


def congestion_level(ratio):
    """The congestion level of a speed ratio column (thresholds from the mart spec)."""
    from pyspark.sql import functions as F

    level = F.lit(CONGESTION_LEVELS[-1][1])
    for threshold, name in reversed(CONGESTION_LEVELS[:-1]):
        level = F.when(ratio >= threshold, name).otherwise(level)
    return level


def traffic_congestion(spark, hour: Hour, inputs: dict):
    from pyspark.sql import functions as F

    gps, cameras = inputs["gps_matched"], inputs["traffic_camera"]
    if gps is None:
        return None
    segments = reference_frame(spark, reference.segments(), "segment_id", "zone_id", "road_class", "speed_limit_kmh")
    observed = (gps.where("segment_id IS NOT NULL").groupBy("segment_id")
                .agg(F.count(F.lit(1)).alias("gps_fixes"), F.countDistinct("vehicle_id").alias("vehicles"),
                     F.round(F.avg("speed_kmh"), 2).alias("mean_speed_kmh"),
                     F.round(F.percentile("speed_kmh", F.lit(0.85)), 2).alias("p85_speed_kmh")))
    frame = observed.join(segments, "segment_id").withColumn(
        "speed_ratio", F.round(F.col("mean_speed_kmh") / F.col("speed_limit_kmh"), 3))
    frame = frame.withColumn("congestion_level", congestion_level(F.col("speed_ratio"))).withColumn(
        "travel_time_index", F.round(F.col("speed_limit_kmh") / F.when(F.col("mean_speed_kmh") > 0,
                                                                       F.col("mean_speed_kmh")), 2))
    if cameras is not None:
        counts = cameras.groupBy("segment_id").agg(F.sum("vehicle_count").cast("bigint").alias("camera_vehicles"))
        frame = frame.join(counts, "segment_id", "left")
    else:
        frame = frame.withColumn("camera_vehicles", F.lit(None).cast("bigint"))
    return finish(frame, TRAFFIC_CONGESTION, hour, "segment_id")
