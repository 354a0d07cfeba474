"""Traffic marts: congestion per road segment and hour, and congestion episodes across hours."""

from smartcity import reference
from smartcity.lake import Lake
from smartcity.warehouse.tables import BiView, MartColumn, MartTable
from smartcity_assets.marts.build import read_transformed
from smartcity_assets.partitions import FIRST_DATE, date_hour


# Ratio of mean speed to the speed limit -> congestion level (thresholds as in common practice for
# urban travel-time indices).
CONGESTION_LEVELS = ((0.8, "free"), (0.6, "moderate"), (0.4, "heavy"), (0.0, "severe"))

# Consecutive hours of heavy or severe congestion on a segment form one episode (gaps-and-islands over
# an hour index; plain SQL that PostgreSQL and Redshift both run). A view, so late data re-materializing
# one hour changes the episodes it belongs to at once.
_HOUR_INDEX = f"(event_date - DATE '{FIRST_DATE}') * 24 + event_hour"
CONGESTION_EPISODES = BiView(
    "congestion_episodes",
    "Congestion episodes: runs of consecutive hours in which a road segment was heavily or severely congested "
    "(speed below 60 % of the limit), with their start, end, length and worst level.",
    (
        MartColumn("segment_id", "string", "Directed road segment"),
        MartColumn("zone_id", "string", "City zone of the segment"),
        MartColumn("start_date", "date", "UTC date of the episode's first hour"),
        MartColumn("start_hour", "int", "UTC hour of the episode's first hour, 0-23"),
        MartColumn("end_date", "date", "UTC date of the episode's last hour"),
        MartColumn("end_hour", "int", "UTC hour of the episode's last hour, 0-23"),
        MartColumn("hours", "bigint", "Length of the episode in hours"),
        MartColumn("worst_level", "string", "severe if any hour was severe, else heavy"),
        MartColumn("min_speed_ratio", "double", "Lowest hourly mean speed / speed limit in the episode"),
        MartColumn("mean_speed_ratio", "double", "Mean of the hourly speed ratios in the episode"),
    ),
    f"""SELECT segment_id, MIN(zone_id) AS zone_id,
  MIN(event_date) AS start_date, CAST(MIN(hour_index) - (MIN(event_date) - DATE '{FIRST_DATE}') * 24 AS INTEGER) AS start_hour,
  MAX(event_date) AS end_date, CAST(MAX(hour_index) - (MAX(event_date) - DATE '{FIRST_DATE}') * 24 AS INTEGER) AS end_hour,
  COUNT(*) AS hours, MAX(congestion_level) AS worst_level,
  MIN(speed_ratio) AS min_speed_ratio, ROUND(CAST(AVG(speed_ratio) AS NUMERIC), 3)::DOUBLE PRECISION AS mean_speed_ratio
FROM (SELECT *, hour_index - ROW_NUMBER() OVER (PARTITION BY segment_id ORDER BY hour_index) AS island
      FROM (SELECT segment_id, zone_id, event_date, congestion_level, speed_ratio, {_HOUR_INDEX} AS hour_index
            FROM marts.traffic_congestion WHERE congestion_level IN ('heavy', 'severe')) AS congested) AS runs
GROUP BY segment_id, island""",
)

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
    views=(CONGESTION_EPISODES,),
)


def traffic_congestion_frame(spark, lake: Lake, partition_key: str):
    """The mart for one hour, from transformed/gps_matched and transformed/traffic_camera."""
    from pyspark.sql import functions as F

    gps, cameras = (read_transformed(spark, lake, n, partition_key) for n in ("gps_matched", "traffic_camera"))
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
