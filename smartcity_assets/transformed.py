"""Transformed layer: one table per source, deduplicated, typed and enriched, per hourly partition.

Each partition is recomputed from exactly the committed raw files of that hour and written as one
Parquet file that replaces the previous one atomically; rows are sorted, so materializing a partition
twice gives the same file.
"""


from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg
import pyarrow as pa
from dagster_pyspark import PySparkResource

from smartcity import contracts, reference
from smartcity.contracts import EventContract
from smartcity.lake import Lake
from smartcity.lake.reader import LakeReader
from smartcity_assets.checks import check_specs, evaluate
from smartcity_assets.metadata import OWNERS, column_schema, passthrough_lineage
from smartcity_assets.partitions import HOURLY, raw_partition
from smartcity_assets.raw import raw_key
from smartcity_assets.resources import LakeResource
from streaming.schemas import RAW_FILE_SCHEMAS


def transformed_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["transformed", name])


def transformed_path(name: str, partition_key: str) -> str:
    return f"transformed/{name}/event_date={partition_key[:10]}/event_hour={partition_key[11:13]}/data.parquet"


# -- enrichment (Spark) -----------------------------------------------------------------------------------

def _zone_of_point(df, spark):
    from pyspark.sql import functions as F

    zones = F.broadcast(spark.createDataFrame(reference.zones().to_pandas()))
    inside = ((df.latitude >= zones.min_lat) & (df.latitude < zones.max_lat)
              & (df.longitude >= zones.min_lon) & (df.longitude < zones.max_lon))
    return df.join(zones, inside, "left").select(df["*"], zones.zone_id, zones.zone_name)


def _zone_name(df, spark):
    from pyspark.sql import functions as F

    zones = F.broadcast(spark.createDataFrame(reference.zones().to_pandas()).select("zone_id", "zone_name"))
    return df.join(zones, "zone_id", "left")


def _camera_segment(df, spark):
    from pyspark.sql import functions as F

    segments = F.broadcast(spark.createDataFrame(reference.segments().to_pandas())
                           .select("segment_id", "zone_id", "road_class", "speed_limit_kmh"))
    return (df.join(segments, "segment_id", "left")
            .withColumn("speed_ratio", F.round(F.col("mean_speed_kmh") / F.col("speed_limit_kmh"), 3)))


def _incident_places(df, spark):
    from pyspark.sql import functions as F

    segments = F.broadcast(spark.createDataFrame(reference.segments().to_pandas())
                           .select("segment_id", "road_class"))
    return _zone_name(df, spark).join(segments, "segment_id", "left")


MATCH_RADIUS_M = 50.0  # a fix farther than this from every road is left unmatched
CELL_M = 200.0


def _match_to_segments(df, spark):
    """Nearest road segment of each GPS fix, in the fix's direction of travel.

    Candidate segments come from a join on 200 m grid cells (each segment is listed in every cell its
    bounding box, widened by the match radius, overlaps), then the point-to-segment distance decides;
    of the two directions of a road, the one whose heading is within 90° of the fix's heading wins.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    df = df.drop("zone_id", "zone_name")  # recomputed below
    cells = F.broadcast(spark.createDataFrame(reference.segment_cells(CELL_M, MATCH_RADIUS_M).to_pandas()))
    to_x, to_y = reference.metres_per_degree()
    lat0, lon0 = reference.origin()
    point = (df.withColumn("_px", (F.col("longitude") - lon0) * to_x)
             .withColumn("_py", (F.col("latitude") - lat0) * to_y)
             .withColumn("_cx", F.floor(F.col("_px") / CELL_M).cast("int"))
             .withColumn("_cy", F.floor(F.col("_py") / CELL_M).cast("int")))
    joined = point.join(cells, (point._cx == cells.cell_x) & (point._cy == cells.cell_y), "left")
    dx, dy = F.col("x1") - F.col("x0"), F.col("y1") - F.col("y0")
    t = F.greatest(F.lit(0.0), F.least(F.lit(1.0), ((F.col("_px") - F.col("x0")) * dx + (F.col("_py") - F.col("y0")) * dy)
                                         / (dx * dx + dy * dy)))
    distance = F.sqrt((F.col("_px") - F.col("x0") - t * dx) ** 2 + (F.col("_py") - F.col("y0") - t * dy) ** 2)
    turn = F.abs(((F.col("heading_deg") - F.col("segment_heading") + 540) % 360) - 180)
    scored = (joined.withColumn("match_distance_m", F.round(distance, 1))
              .withColumn("_score", F.when(distance <= MATCH_RADIUS_M, distance + F.when(turn > 90, 1000.0)
                                           .otherwise(0.0))))
    best = Window.partitionBy("event_id").orderBy(F.col("_score").asc_nulls_last(), "segment_id")
    matched = (scored.withColumn("_rank", F.row_number().over(best)).where("_rank = 1")
               .withColumn("segment_id", F.when(F.col("_score").isNotNull(), F.col("segment_id")))
               .withColumn("match_distance_m", F.when(F.col("_score").isNotNull(), F.col("match_distance_m"))))
    segments = F.broadcast(spark.createDataFrame(reference.segments().to_pandas())
                           .select("segment_id", F.col("zone_id").alias("segment_zone_id"), "road_class",
                                   "speed_limit_kmh"))
    return _zone_of_point(matched.join(segments, "segment_id", "left"), spark)


@dataclass(frozen=True)
class Table:
    name: str
    contract: EventContract
    description: str
    enrich: Callable
    extra_columns: list[tuple[str, str, str]] = field(default_factory=list)
    lineage: dict[str, list[str]] = field(default_factory=dict)  # derived column -> upstream columns
    source: str | None = None  # raw source it is computed from; None = from another transformed table
    upstream_table: str | None = None

    @property
    def upstream(self) -> dg.AssetKey:
        return raw_key(self.source) if self.source else transformed_key(self.upstream_table)


ZONE = ("zone_id", "string", "City zone the event lies in (from its coordinates)")
ZONE_NAME = ("zone_name", "string", "Name of the city zone")

TABLES = [
    Table("vehicle", contracts.VEHICLE,
          "Vehicle telemetry, one row per report, with the city zone the vehicle was in.",
          _zone_of_point, [ZONE, ZONE_NAME],
          {"zone_id": ["latitude", "longitude"], "zone_name": ["latitude", "longitude"]}, source="vehicle"),
    Table("gps", contracts.GPS,
          "GPS fixes of vehicles, one row per fix, with the city zone of the position.",
          _zone_of_point, [ZONE, ZONE_NAME],
          {"zone_id": ["latitude", "longitude"], "zone_name": ["latitude", "longitude"]}, source="gps"),
    Table("traffic_camera", contracts.TRAFFIC_CAMERA,
          "Per-minute vehicle counts and mean speeds per camera and road segment, with the segment's zone, "
          "road class and speed limit, and the ratio of mean speed to the limit (congestion indicator).",
          _camera_segment,
          [("zone_id", "string", "City zone of the road segment"),
           ("road_class", "string", "ring | arterial | residential"),
           ("speed_limit_kmh", "double", "Free-flow speed limit of the segment, km/h"),
           ("speed_ratio", "double", "mean_speed_kmh / speed_limit_kmh; below ~0.5 means congestion")],
          {"zone_id": ["segment_id"], "road_class": ["segment_id"], "speed_limit_kmh": ["segment_id"],
           "speed_ratio": ["mean_speed_kmh", "segment_id"]}, source="traffic_camera"),
    Table("weather", contracts.WEATHER,
          "Weather and air quality per zone station and minute, with the zone's name.",
          _zone_name, [ZONE_NAME], {"zone_name": ["zone_id"]}, source="weather"),
    Table("emergency", contracts.EMERGENCY,
          "Emergency incident status updates (reported, dispatched, on scene, resolved), with zone name and the "
          "road class of the affected segment.",
          _incident_places,
          [ZONE_NAME, ("road_class", "string", "Road class of the affected segment; null when off-road")],
          {"zone_name": ["zone_id"], "road_class": ["segment_id"]}, source="emergency"),
    Table("gps_matched", contracts.GPS,
          "GPS fixes matched to the road network: the road segment each vehicle was driving on (nearest "
          f"segment within {MATCH_RADIUS_M:.0f} m in the direction of travel), its road class, speed limit and "
          "zone, and the distance from the fix to the road. Serves traffic speeds per segment and route "
          "analysis; unmatched fixes keep null segment columns.",
          _match_to_segments,
          [("segment_id", "string", f"Matched directed road segment; null if no road within {MATCH_RADIUS_M:.0f} m"),
           ("match_distance_m", "double", "Distance from the fix to the matched segment, metres"),
           ("road_class", "string", "ring | arterial | residential"),
           ("speed_limit_kmh", "double", "Speed limit of the matched segment, km/h"),
           ZONE, ZONE_NAME],
          {"segment_id": ["latitude", "longitude", "heading_deg"], "match_distance_m": ["latitude", "longitude"],
           "road_class": ["latitude", "longitude", "heading_deg"],
           "speed_limit_kmh": ["latitude", "longitude", "heading_deg"],
           "zone_id": ["latitude", "longitude"], "zone_name": ["latitude", "longitude"]},
          upstream_table="gps"),
]


def read_input(spark, lake: Lake, table: Table, partition_key: str):
    """The input rows of one hour as a Spark DataFrame: the committed raw files of the table's source, or
    the upstream transformed partition. Empty, with the right schema, if there are none."""
    if table.source:
        files = LakeReader(lake).committed_files(raw_partition(table.source, partition_key))
        schema = RAW_FILE_SCHEMAS[table.source]
    else:
        path = lake.path(transformed_path(table.upstream_table, partition_key))
        files = [path] if lake.exists(path) else []
        schema = None
    if not files:
        empty = RAW_FILE_SCHEMAS[table.contract.name].empty_table()
        return spark.createDataFrame(empty.to_pandas(), schema=_spark_schema(empty.schema)), 0
    paths = [("s3a://" + f) if lake.is_s3 else f for f in files]
    reader = spark.read.schema(_spark_schema(schema)) if schema is not None else spark.read
    return reader.parquet(*paths), len(files)


def _spark_schema(schema: pa.Schema):
    from streaming.schemas import spark_from_arrow

    return spark_from_arrow(schema)


def transform(spark, raw, table: Table):
    """Deduplicate on event_id (first Kafka offset wins), enrich, sort."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    first = Window.partitionBy("event_id").orderBy("kafka_topic", "kafka_partition", "kafka_offset")
    deduped = raw.withColumn("_n", F.row_number().over(first)).where("_n = 1").drop("_n")
    columns = [f.name for f in table.contract.fields] + [c[0] for c in table.extra_columns] + [
        "kafka_topic", "kafka_partition", "kafka_offset", "kafka_timestamp", "ingest_time"]
    return table.enrich(deduped, spark).select(*columns).orderBy("event_time", "event_id")


def build_transformed(table: Table) -> dg.AssetsDefinition:
    key, upstream = transformed_key(table.name), table.upstream

    @dg.asset(
        key=key, deps=[upstream], partitions_def=HOURLY, group_name="transformed",
        kinds={"spark", "parquet"}, owners=OWNERS,
        description=(f"{table.description} Deduplicated on event_id (a message delivered twice counts once); "
                     f"typed as in the event contract; one partition per UTC hour of event time, recomputed "
                     f"whole when late events arrive for that hour."),
        check_specs=check_specs(key, table.name, table.contract),
        metadata={"dagster/column_schema": column_schema(table.contract, table.extra_columns, unique=["event_id"]),
                  "dagster/column_lineage": passthrough_lineage(table.contract, upstream, table.lineage),
                  "lake_path": f"transformed/{table.name}/event_date=YYYY-MM-DD/event_hour=HH/data.parquet"},
    )
    def _asset(context: dg.AssetExecutionContext, lake: LakeResource, pyspark: PySparkResource):
        spark, store = pyspark.spark_session, lake.lake()
        raw, n_files = read_input(spark, store, table, context.partition_key)
        result = transform(spark, raw, table).cache()  # read by the write, the checks and their counts
        data = result.toArrow()
        raw_rows = raw.count()
        check_results = evaluate(result, table.name, table.contract, context.partition_key)
        result.unpersist()
        path = transformed_path(table.name, context.partition_key)
        size = store.write_parquet(data, store.path(path))
        context.log.info(f"{table.name} {context.partition_key}: {raw_rows:,} raw rows from {n_files} files -> "
                         f"{data.num_rows:,} rows ({raw_rows - data.num_rows:,} duplicates removed)")
        return dg.MaterializeResult(check_results=check_results, metadata={
            "dagster/row_count": data.num_rows, "raw_rows": raw_rows, "raw_files": n_files,
            "duplicates_removed": raw_rows - data.num_rows, "bytes": size,
            "dagster/uri": store.uri_of(store.path(path)),
            "checks_failed": sorted(r.check_name for r in check_results if not r.passed),
        })

    return _asset


TRANSFORMED = [build_transformed(t) for t in TABLES]


def read_transformed(lake: Lake, name: str, partition_key: str) -> pa.Table:
    return lake.read_parquet([lake.path(transformed_path(name, partition_key))])
