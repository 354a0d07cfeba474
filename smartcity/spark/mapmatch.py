"""Map matching: each GPS fix to the road segment the vehicle was driving on, in Spark.

The nearest directed segment within `MATCH_RADIUS_M`, in the fix's direction of travel. Candidate segments
come from a join on 200 m grid cells (each segment is listed in every cell its bounding box, widened by the
match radius, overlaps); the point-to-segment distance then decides, and of the two directions of a road
the one whose heading is within 90 degrees of the fix's heading wins.
"""

from __future__ import annotations

from smartcity import reference
from smartcity.spark.enrich import segment_attributes, zone_of_point
from smartcity.spark.inputs import reference_frame
from smartcity.tables import MATCH_RADIUS_M

CELL_M = 200.0
WRONG_WAY_PENALTY_M = 1000.0  # a segment driven against its direction only wins when no other is near


def match_to_segments(df, spark):
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    df = df.drop("zone_id", "zone_name")  # recomputed below
    cells = reference_frame(spark, reference.segment_cells(CELL_M, MATCH_RADIUS_M))
    to_x, to_y = reference.metres_per_degree()
    lat0, lon0 = reference.origin()
    point = (df.withColumn("_px", (F.col("longitude") - lon0) * to_x)
             .withColumn("_py", (F.col("latitude") - lat0) * to_y)
             .withColumn("_cx", F.floor(F.col("_px") / CELL_M).cast("int"))
             .withColumn("_cy", F.floor(F.col("_py") / CELL_M).cast("int")))
    joined = point.join(cells, (point._cx == cells.cell_x) & (point._cy == cells.cell_y), "left")
    dx, dy = F.col("x1") - F.col("x0"), F.col("y1") - F.col("y0")
    t = F.greatest(F.lit(0.0), F.least(F.lit(1.0), ((F.col("_px") - F.col("x0")) * dx
                                                    + (F.col("_py") - F.col("y0")) * dy) / (dx * dx + dy * dy)))
    distance = F.sqrt((F.col("_px") - F.col("x0") - t * dx) ** 2 + (F.col("_py") - F.col("y0") - t * dy) ** 2)
    turn = F.abs(((F.col("heading_deg") - F.col("segment_heading") + 540) % 360) - 180)
    scored = (joined.withColumn("match_distance_m", F.round(distance, 1))
              .withColumn("_score", F.when(distance <= MATCH_RADIUS_M, distance + F.when(
                  turn > 90, WRONG_WAY_PENALTY_M).otherwise(0.0))))
    best = Window.partitionBy("event_id").orderBy(F.col("_score").asc_nulls_last(), "segment_id")
    matched = (scored.withColumn("_rank", F.row_number().over(best)).where("_rank = 1")
               .withColumn("segment_id", F.when(F.col("_score").isNotNull(), F.col("segment_id")))
               .withColumn("match_distance_m", F.when(F.col("_score").isNotNull(), F.col("match_distance_m"))))
    return zone_of_point(segment_attributes(matched, spark), spark)
