"""The public transport mart's hour: per bus route, service from the buses' telemetry and regularity from
their stop arrivals (a map-matched GPS fix moving onto the route's next segment) and the headways between
them (definitions in smartcity.marts.transport)."""

from __future__ import annotations

from smartcity import reference
from smartcity.lake.layout import Hour
from smartcity.marts.transport import BUNCH_FACTOR, GAP_FACTOR, PUBLIC_TRANSPORT
from smartcity.spark.inputs import reference_frame
from smartcity.spark.marts.common import finish

_REGULARITY = (("stop_arrivals", "bigint"), ("headways", "bigint"), ("mean_headway_min", "double"),
               ("headway_cv", "double"), ("max_headway_min", "double"), ("mean_wait_min", "double"),
               ("excess_wait_min", "double"), ("bunched_headways", "bigint"), ("service_gaps", "bigint"))
_COUNTS = ["stop_arrivals", "headways", "bunched_headways", "service_gaps"]


def public_transport(spark, hour: Hour, inputs: dict):
    """Service from the hour's bus reports; arrivals of the hour with their headways, the previous bus at a
    stop found in this hour or the one before (both hours are in `inputs`)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    vehicles = inputs["vehicle"]
    if vehicles is None:
        return None
    in_hour = (F.col("event_time") >= F.lit(hour.start)) & (F.col("event_time") < F.lit(hour.end))
    buses = vehicles.where("vehicle_type = 'bus' AND route_id IS NOT NULL")
    service = buses.where(in_hour).groupBy("route_id").agg(
        F.countDistinct("vehicle_id").alias("buses"), F.count(F.lit(1)).alias("reports"),
        F.round(F.avg("speed_kmh"), 2).alias("mean_speed_kmh"),
        F.round(F.avg("passenger_count"), 2).alias("mean_passengers"),
        F.max("passenger_count").alias("max_passengers"))
    gps = inputs["gps_matched"]
    if gps is None:
        regularity = service.select("route_id").withColumn("stop_arrivals", F.lit(0).cast("bigint"))
    else:
        route_of = buses.groupBy("vehicle_id").agg(F.min("route_id").alias("route_id"))
        stops = reference_frame(spark, reference.bus_routes(), "route_id", "segment_id", "previous_segment_id")
        by_bus = Window.partitionBy("vehicle_id").orderBy("event_time", "event_id")
        fixes = (gps.where("segment_id IS NOT NULL").join(route_of, "vehicle_id")
                 .withColumn("_previous", F.lag("segment_id").over(by_bus)))
        arrivals = fixes.join(stops, ["route_id", "segment_id"]).where(F.col("_previous") == F.col(
            "previous_segment_id"))
        at_stop = Window.partitionBy("route_id", "segment_id").orderBy("event_time", "vehicle_id")
        arrivals = arrivals.withColumn("h", (F.unix_micros("event_time") - F.lag(
            F.unix_micros("event_time")).over(at_stop)) / 60e6).where(in_hour)
        arrivals = arrivals.withColumn("_mean", F.avg("h").over(Window.partitionBy("route_id")))
        # 0 / 0 (every headway of the route 0: buses arriving together) is undefined: null, not an error
        wait = F.try_divide(F.sum(F.col("h") * F.col("h")), 2 * F.sum("h"))
        regularity = arrivals.groupBy("route_id").agg(
            F.count(F.lit(1)).alias("stop_arrivals"), F.count("h").alias("headways"),
            F.round(F.avg("h"), 2).alias("mean_headway_min"),
            F.round(F.try_divide(F.stddev_pop("h"), F.avg("h")), 3).alias("headway_cv"),
            F.round(F.max("h"), 2).alias("max_headway_min"),
            F.round(wait, 2).alias("mean_wait_min"),
            F.round(wait - F.avg("h") / 2, 2).alias("excess_wait_min"),
            F.sum(F.when(F.col("h") < BUNCH_FACTOR * F.col("_mean"), 1).otherwise(0)).cast("bigint")
            .alias("bunched_headways"),
            F.sum(F.when(F.col("h") > GAP_FACTOR * F.col("_mean"), 1).otherwise(0)).cast("bigint")
            .alias("service_gaps"))
    frame = service.join(regularity, "route_id", "left")
    for name, kind in _REGULARITY:
        frame = frame.withColumn(name, F.col(name).cast(kind)) if name in frame.columns else frame.withColumn(
            name, F.lit(None).cast(kind))
    frame = frame.fillna(0, subset=_COUNTS)
    return finish(frame, PUBLIC_TRANSPORT, hour, "route_id")
