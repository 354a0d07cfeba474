"""Map matching: each GPS fix to the road segment the vehicle was driving on (vectorised numpy, no engine).

The nearest directed segment within `MATCH_RADIUS_M`, in the fix's direction of travel: candidate segments
come from 200 m grid cells (each segment is listed in every cell its bounding box, widened by the match
radius, overlaps); the point-to-segment distance then decides, and of the two directions of a road the one
whose heading is within 90 degrees of the fix's heading wins (a segment driven against its direction only
wins when no other is near). Ties go to the lower segment id.

One definition for both layers: the batch layer's `gps_matched` table applies it in Spark
(`smartcity.spark.mapmatch`, through mapInArrow), the live layer to each micro-batch's GPS rows.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyarrow as pa

from smartcity import reference
from smartcity.tables import MATCH_RADIUS_M

CELL_M = 200.0
WRONG_WAY_PENALTY_M = 1000.0
_KEY = 1 << 20  # cell_x * _KEY + cell_y: one integer per grid cell (the city spans far fewer cells)


@lru_cache(maxsize=1)
def _candidates() -> dict[str, np.ndarray]:
    cells = reference.segment_cells(CELL_M, MATCH_RADIUS_M).to_pydict()
    key = np.asarray(cells["cell_x"], np.int64) * _KEY + np.asarray(cells["cell_y"], np.int64)
    ids = np.asarray(cells["segment_id"], object)
    order = np.lexsort((ids, key))  # by cell, then segment id (the tie-break)
    out = {name: np.asarray(cells[name], np.float64)[order] for name in ("segment_heading", "x0", "y0", "x1", "y1")}
    out["key"], out["segment_id"] = key[order], ids[order]
    out["rank"] = np.unique(ids, return_inverse=True)[1][order]  # segment ids as sortable integers
    return out


def match(latitude, longitude, heading_deg) -> tuple[np.ndarray, np.ndarray]:
    """(segment_id, match_distance_m) per fix: object array (None = no road within the radius), float array
    (NaN where unmatched), the distance in metres rounded to 0.1."""
    lat, lon = np.asarray(latitude, np.float64), np.asarray(longitude, np.float64)
    heading = np.asarray(heading_deg, np.float64)
    n = len(lat)
    segment, distance = np.full(n, None, object), np.full(n, np.nan)
    if n == 0:
        return segment, distance
    c = _candidates()
    to_x, to_y = reference.metres_per_degree()
    lat0, lon0 = reference.origin()
    px, py = (lon - lon0) * to_x, (lat - lat0) * to_y
    key = np.floor(px / CELL_M).astype(np.int64) * _KEY + np.floor(py / CELL_M).astype(np.int64)
    lo, hi = np.searchsorted(c["key"], key, "left"), np.searchsorted(c["key"], key, "right")
    counts = hi - lo
    point = np.repeat(np.arange(n), counts)  # one row per (fix, candidate segment)
    if len(point) == 0:
        return segment, distance
    starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
    cand = starts + np.arange(len(point))
    x0, y0, dx, dy = c["x0"][cand], c["y0"][cand], c["x1"][cand] - c["x0"][cand], c["y1"][cand] - c["y0"][cand]
    qx, qy = px[point] - x0, py[point] - y0
    t = np.clip((qx * dx + qy * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    d = np.sqrt((qx - t * dx) ** 2 + (qy - t * dy) ** 2)
    turn = np.abs(((heading[point] - c["segment_heading"][cand] + 540) % 360) - 180)
    near = d <= MATCH_RADIUS_M
    point, cand, d = point[near], cand[near], d[near]
    if len(point) == 0:
        return segment, distance
    score = d + np.where(turn[near] > 90, WRONG_WAY_PENALTY_M, 0.0)
    # Per fix, the lowest score, then of equal scores the lowest segment id. `point` is sorted, so each fix's
    # candidates are one run: minima per run (no sort; a segment is listed once per cell, so one wins).
    starts = np.flatnonzero(np.r_[True, point[1:] != point[:-1]])
    run = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(point)]))
    lowest = score == np.minimum.reduceat(score, starts)[run]
    rank = np.where(lowest, c["rank"][cand], np.iinfo(np.int64).max)
    winners = np.flatnonzero(lowest & (rank == np.minimum.reduceat(rank, starts)[run]))
    segment[point[winners]] = c["segment_id"][cand[winners]]
    distance[point[winners]] = np.floor(d[winners] * 10 + 0.5) / 10
    return segment, distance


def match_table(rows: pa.Table) -> pa.Table:
    """`rows` (latitude, longitude, heading_deg) with segment_id and match_distance_m set."""
    segment, distance = match(rows.column("latitude").to_numpy(zero_copy_only=False),
                              rows.column("longitude").to_numpy(zero_copy_only=False),
                              rows.column("heading_deg").to_numpy(zero_copy_only=False))
    for name, values in (("segment_id", pa.array(segment, pa.string())),
                         ("match_distance_m", pa.array(distance, pa.float64(), from_pandas=True))):
        if name in rows.column_names:
            rows = rows.drop_columns([name])
        rows = rows.append_column(name, values)
    return rows
