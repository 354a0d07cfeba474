"""Reference data of the city: zones and road segments, as tables the pipeline joins with.

In a real deployment these come from the city's GIS; here they are exported from the simulated city's
network, so enrichment joins real geometry. Zones are rectangles; the outer zones extend to infinity
so a GPS fix slightly outside the city still gets the nearest zone.
"""

from __future__ import annotations

import math
from functools import lru_cache

import pyarrow as pa

from smartcity.simulator.city import City


@lru_cache(maxsize=1)
def city() -> City:
    return City(seed=42)


def zones() -> pa.Table:
    c = city()
    rows = []
    for i, z in enumerate(c.zones):
        zx, zy = i % 3, i // 3
        x0, x1 = zx * (c.width - 1) / 3, (zx + 1) * (c.width - 1) / 3
        y0, y1 = zy * (c.height - 1) / 3, (zy + 1) * (c.height - 1) / 3
        lat0, lon0 = c.node_lat[0], c.node_lon[0]
        dlat, dlon = c.node_lat[c.width] - lat0, c.node_lon[1] - lon0
        rows.append({
            "zone_id": z.zone_id, "zone_name": z.name, "zone_latitude": z.latitude, "zone_longitude": z.longitude,
            "min_lat": float("-inf") if zy == 0 else lat0 + y0 * dlat,
            "max_lat": float("inf") if zy == 2 else lat0 + y1 * dlat,
            "min_lon": float("-inf") if zx == 0 else lon0 + x0 * dlon,
            "max_lon": float("inf") if zx == 2 else lon0 + x1 * dlon,
        })
    return pa.Table.from_pylist(rows)


def segments() -> pa.Table:
    c = city()
    return pa.Table.from_pylist([{
        "segment_id": s.segment_id, "zone_id": c.zones[s.zone].zone_id, "road_class": s.road_class,
        "speed_limit_kmh": s.speed_limit_kmh, "length_m": s.length_m, "heading_deg": s.heading_deg,
        "start_lat": float(c.node_lat[s.from_node]), "start_lon": float(c.node_lon[s.from_node]),
        "end_lat": float(c.node_lat[s.to_node]), "end_lon": float(c.node_lon[s.to_node]),
    } for s in c.segments])


def bus_routes() -> pa.Table:
    """Each bus route as its loop of segments in driving order; every junction on it is a stop, and a bus
    arrives at the stop at the start of `segment_id` when it leaves `previous_segment_id` for it."""
    c = city()
    rows = []
    for route in c.bus_routes:
        ids = [c.segments[s].segment_id for s in route.segments]
        rows += [{"route_id": route.route_id, "stop_seq": i, "segment_id": seg, "previous_segment_id": ids[i - 1]}
                 for i, seg in enumerate(ids)]
    return pa.Table.from_pylist(rows)


def origin() -> tuple[float, float]:
    """(latitude, longitude) of the south-west corner: the origin of the local metric grid."""
    c = city()
    return float(c.node_lat[0]), float(c.node_lon[0])


def metres_per_degree() -> tuple[float, float]:
    """Metres per degree of longitude and of latitude at the city (flat-earth, fine for a city)."""
    lat0, _ = origin()
    return 111_320.0 * math.cos(math.radians(lat0)), 111_320.0


def segment_cells(cell_m: float, radius_m: float) -> pa.Table:
    """Each segment (local metric coordinates) once per grid cell within `radius_m` of its bounding box."""
    lat0, lon0 = origin()
    to_x, to_y = metres_per_degree()
    rows = []
    for seg in segments().to_pylist():
        x0, y0 = (seg["start_lon"] - lon0) * to_x, (seg["start_lat"] - lat0) * to_y
        x1, y1 = (seg["end_lon"] - lon0) * to_x, (seg["end_lat"] - lat0) * to_y
        for cx in range(math.floor((min(x0, x1) - radius_m) / cell_m), math.floor((max(x0, x1) + radius_m) / cell_m) + 1):
            for cy in range(math.floor((min(y0, y1) - radius_m) / cell_m),
                            math.floor((max(y0, y1) + radius_m) / cell_m) + 1):
                rows.append({"cell_x": cx, "cell_y": cy, "segment_id": seg["segment_id"],
                             "segment_heading": seg["heading_deg"], "x0": x0, "y0": y0, "x1": x1, "y1": y1})
    return pa.Table.from_pylist(rows)
