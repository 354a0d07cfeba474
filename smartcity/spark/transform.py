"""A transformed table's hour from its input rows: deduplicated on event_id (the first Kafka offset wins),
enriched, in the table's column order, sorted — so the same input always gives the same rows."""

from __future__ import annotations

from smartcity.spark import enrich
from smartcity.spark.mapmatch import match_to_segments
from smartcity.tables import TransformedTable

ENRICHMENT = {"vehicle": enrich.zone_of_point, "gps": enrich.zone_of_point, "traffic_camera": enrich.camera_segment,
              "weather": enrich.zone_name, "emergency": enrich.incident_places, "gps_matched": match_to_segments}


def transform(spark, rows, table: TransformedTable):
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    first = Window.partitionBy("event_id").orderBy("kafka_topic", "kafka_partition", "kafka_offset")
    deduped = rows.withColumn("_n", F.row_number().over(first)).where("_n = 1").drop("_n")
    return ENRICHMENT[table.name](deduped, spark).select(*table.column_names).orderBy("event_time", "event_id")
