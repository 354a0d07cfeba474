"""Public transport: per bus route and hour, how fast buses run, how full they are, and how regular the
service is at the stops (headways), from the buses' telemetry and their map-matched GPS fixes."""

from smartcity import reference
from smartcity.lake import Lake
from smartcity.warehouse.tables import MartColumn, MartTable
from smartcity_assets.marts.build import read_transformed
from smartcity_assets.partitions import date_hour

GAP_FACTOR = 2.0  # a headway longer than twice the route's mean headway in the hour is a service gap

PUBLIC_TRANSPORT = MartTable(
    "public_transport",
    "Bus service per route and hour: buses in service, commercial speed, passengers, and the regularity of "
    "the service at the stops: headways (time between consecutive buses arriving at a stop), their "
    "coefficient of variation (0 = perfectly regular; bunching raises it) and service gaps.",
    (
        MartColumn("event_date", "date", "UTC date of the hour"),
        MartColumn("event_hour", "int", "UTC hour, 0-23"),
        MartColumn("route_id", "string", "Bus route"),
        MartColumn("buses", "bigint", "Distinct buses that served the route in the hour"),
        MartColumn("reports", "bigint", "Telemetry reports of those buses"),
        MartColumn("mean_speed_kmh", "double", "Mean reported speed, stops included (commercial speed), km/h"),
        MartColumn("mean_passengers", "double", "Mean passengers on board"),
        MartColumn("max_passengers", "int", "Most passengers on board a bus"),
        MartColumn("stop_arrivals", "bigint",
                   "Arrivals at stops (a bus's GPS fix moving onto the route's next segment)"),
        MartColumn("headways", "bigint", "Headways measured (consecutive arrivals at the same stop in the hour)"),
        MartColumn("mean_headway_min", "double", "Mean headway, minutes"),
        MartColumn("headway_cv", "double", "Standard deviation / mean of the headways (regularity)"),
        MartColumn("max_headway_min", "double", "Longest headway, minutes"),
        MartColumn("service_gaps", "bigint", f"Headways longer than {GAP_FACTOR:g} x the mean headway"),
    ),
)


def public_transport_frame(spark, lake: Lake, partition_key: str):
    """The mart for one hour, from transformed/vehicle (buses) and transformed/gps_matched (stop arrivals)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    vehicles = read_transformed(spark, lake, "vehicle", partition_key)
    if vehicles is None:
        return None
    date, hour = date_hour(partition_key)
    buses = vehicles.where("vehicle_type = 'bus' AND route_id IS NOT NULL")
    service = buses.groupBy("route_id").agg(
        F.countDistinct("vehicle_id").alias("buses"), F.count(F.lit(1)).alias("reports"),
        F.round(F.avg("speed_kmh"), 2).alias("mean_speed_kmh"),
        F.round(F.avg("passenger_count"), 2).alias("mean_passengers"),
        F.max("passenger_count").alias("max_passengers"))
    gps = read_transformed(spark, lake, "gps_matched", partition_key)
    if gps is None:
        regularity = service.select("route_id").withColumn("stop_arrivals", F.lit(0).cast("bigint"))
    else:
        route_of = buses.groupBy("vehicle_id").agg(F.min("route_id").alias("route_id"))
        stops = F.broadcast(spark.createDataFrame(reference.bus_routes().to_pandas())
                            .select("route_id", "segment_id", "previous_segment_id"))
        by_bus = Window.partitionBy("vehicle_id").orderBy("event_time", "event_id")
        fixes = (gps.where("segment_id IS NOT NULL").join(route_of, "vehicle_id")
                 .withColumn("_previous", F.lag("segment_id").over(by_bus)))
        arrivals = fixes.join(stops, ["route_id", "segment_id"]).where(F.col("_previous") == F.col(
            "previous_segment_id"))
        at_stop = Window.partitionBy("route_id", "segment_id").orderBy("event_time", "vehicle_id")
        arrivals = arrivals.withColumn("headway_min", (F.unix_micros("event_time") - F.lag(
            F.unix_micros("event_time")).over(at_stop)) / 60e6)
        route_mean = Window.partitionBy("route_id")
        arrivals = arrivals.withColumn("_mean", F.avg("headway_min").over(route_mean))
        regularity = arrivals.groupBy("route_id").agg(
            F.count(F.lit(1)).alias("stop_arrivals"), F.count("headway_min").alias("headways"),
            F.round(F.avg("headway_min"), 2).alias("mean_headway_min"),
            F.round(F.stddev_pop("headway_min") / F.avg("headway_min"), 3).alias("headway_cv"),
            F.round(F.max("headway_min"), 2).alias("max_headway_min"),
            F.sum(F.when(F.col("headway_min") > GAP_FACTOR * F.col("_mean"), 1).otherwise(0)).cast("bigint")
            .alias("service_gaps"))
    frame = service.join(regularity, "route_id", "left")
    for name, kind in (("stop_arrivals", "bigint"), ("headways", "bigint"), ("mean_headway_min", "double"),
                       ("headway_cv", "double"), ("max_headway_min", "double"), ("service_gaps", "bigint")):
        frame = frame.withColumn(name, F.col(name).cast(kind)) if name in frame.columns else frame.withColumn(
            name, F.lit(None).cast(kind))
    frame = (frame.fillna(0, subset=["stop_arrivals", "headways", "service_gaps"])
             .withColumn("event_date", F.to_date(F.lit(date))).withColumn("event_hour", F.lit(hour)))
    return frame.select(*[c.name for c in PUBLIC_TRANSPORT.columns]).orderBy("route_id")
