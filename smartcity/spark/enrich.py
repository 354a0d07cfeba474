"""Enrichment of events with the city's reference data (zones, road segments), as Spark joins."""

from __future__ import annotations

from smartcity import reference
from smartcity.spark.inputs import reference_frame


def zone_of_point(df, spark):
    """The zone whose bounding box holds the event's coordinates: zone_id, zone_name."""
    zones = reference_frame(spark, reference.zones())
    inside = ((df.latitude >= zones.min_lat) & (df.latitude < zones.max_lat)
              & (df.longitude >= zones.min_lon) & (df.longitude < zones.max_lon))
    return df.join(zones, inside, "left").select(df["*"], zones.zone_id, zones.zone_name)


def zone_name(df, spark):
    """The name of the event's zone_id."""
    return df.join(reference_frame(spark, reference.zones(), "zone_id", "zone_name"), "zone_id", "left")


def camera_segment(df, spark):
    """The camera's road segment: zone, road class, speed limit, and the mean speed's ratio to the limit."""
    from pyspark.sql import functions as F

    segments = reference_frame(spark, reference.segments(), "segment_id", "zone_id", "road_class", "speed_limit_kmh")
    return (df.join(segments, "segment_id", "left")
            .withColumn("speed_ratio", F.round(F.col("mean_speed_kmh") / F.col("speed_limit_kmh"), 3)))


def incident_places(df, spark):
    """The incident's zone name and the road class of its segment."""
    return zone_name(df, spark).join(reference_frame(spark, reference.segments(), "segment_id", "road_class"),
                                     "segment_id", "left")


def segment_attributes(df, spark):
    """Road class, speed limit and zone of a matched segment_id (as segment_zone_id)."""
    from pyspark.sql import functions as F

    segments = reference_frame(spark, reference.segments(), "segment_id", F.col("zone_id").alias("segment_zone_id"),
                          "road_class", "speed_limit_kmh")
    return df.join(segments, "segment_id", "left")
