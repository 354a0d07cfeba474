"""Map matching in Spark: `smartcity.mapmatch` applied to each Arrow batch of GPS fixes (mapInArrow), then the
matched segment's attributes and the fix's zone joined on."""

from __future__ import annotations

from smartcity.spark.enrich import segment_attributes, zone_of_point


def _match_batches(batches):
    import pyarrow as pa

    from smartcity.mapmatch import match_table

    for batch in batches:
        yield from match_table(pa.Table.from_batches([batch])).to_batches()


def match_to_segments(df, spark):
    from pyspark.sql import types as T

    df = df.drop("zone_id", "zone_name", "segment_id", "match_distance_m")  # recomputed below
    schema = T.StructType([*df.schema.fields, T.StructField("segment_id", T.StringType()),
                           T.StructField("match_distance_m", T.DoubleType())])
    matched = df.mapInArrow(_match_batches, schema)
    return zone_of_point(segment_attributes(matched, spark), spark)
