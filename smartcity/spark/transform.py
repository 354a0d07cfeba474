"""A transformed table's hour from its input rows: deduplicated on event_id (the first Kafka offset wins),
enriched, in the table's column order; written sorted as one file by one task on the executors (or collected
sorted) — so the same input always gives the same file."""

from __future__ import annotations

import json

import pyarrow as pa

from smartcity.spark import enrich
from smartcity.spark.mapmatch import match_to_segments
from smartcity.tables import TransformedTable

ORDER = ("event_time", "event_id")
ENRICHMENT = {"vehicle": enrich.zone_of_point, "gps": enrich.zone_of_point, "traffic_camera": enrich.camera_segment,
              "weather": enrich.zone_name, "emergency": enrich.incident_places, "gps_matched": match_to_segments}


def transform(spark, rows, table: TransformedTable):
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    first = Window.partitionBy("event_id").orderBy("kafka_topic", "kafka_partition", "kafka_offset")
    deduped = rows.withColumn("_n", F.row_number().over(first)).where("_n = 1").drop("_n")
    return ENRICHMENT[table.name](deduped, spark).select(*table.column_names)


def collect_sorted(frame) -> pa.Table:
    """The frame's rows as Arrow, in the order of every transformed file (`ORDER`). Sorted after collecting:
    an hour fits in memory anyway (it is written as one file), and a global sort in Spark costs two extra jobs
    (sampling the range bounds, then the shuffle)."""
    return frame.toArrow().sort_by([(c, "ascending") for c in ORDER])


def write_sorted(frame, lake, path: str, field_ids: dict[str, int] | None = None) -> None:
    """Replace the lake file at `path` with the frame's rows in `ORDER`, written by one task on the executors
    (`smartcity.spark.lake_files`): no row passes through the driver, and the file is replaced whole. A cached
    frame that was computed already (the transformed asset runs its checks first) reaches that task without a
    shuffle (`coalesce(1)` reads the cached blocks); any other frame is shuffled to it, so that computing the
    frame keeps all its tasks. `field_ids`: the Iceberg table's column ids, written into the file's schema."""
    from smartcity.spark import lake_files

    lake_files.register(frame.sparkSession)
    level = frame.storageLevel
    one = frame.coalesce(1) if level.useMemory or level.useDisk else frame.repartition(1)
    (one.write.format(lake_files.NAME).mode("overwrite").options(**lake.options())
     .option("path", path).option("sortBy", ",".join(ORDER)).option("fieldIds", json.dumps(field_ids or {})).save())
