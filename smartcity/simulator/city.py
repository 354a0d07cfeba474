"""The static city: a grid road network of directed segments, zones, cameras, weather stations, bus routes.

The layout is fixed (a fictional city on a 13 x 10 grid of intersections 400 m apart); the seed only
chooses which segments carry cameras. Arterials run along every third street, a faster ring road
around the edge, 30 km/h residential streets in between.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ORIGIN_LAT, ORIGIN_LON = 52.3400, 4.8600  # south-west corner of the city
METERS_PER_DEG_LAT = 111_320.0

CAMERA_POSITION = 0.9  # cameras sit near the end of a segment, watching vehicles reach the junction

ZONE_NAMES = ("Westfield", "Old Town", "Harbour", "Riverside", "Central", "Docklands",
              "University", "Northgate", "Airport Road")


@dataclass(frozen=True)
class Zone:
    zone_id: str
    name: str
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Segment:
    segment_id: str
    from_node: int
    to_node: int
    length_m: float
    speed_limit_kmh: float
    road_class: str  # ring | arterial | residential
    zone: int  # index into City.zones
    heading_deg: float


@dataclass(frozen=True)
class Camera:
    camera_id: str
    segment: int
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Station:
    station_id: str
    zone: int
    latitude: float
    longitude: float


@dataclass(frozen=True)
class BusRoute:
    route_id: str
    segments: tuple[int, ...]  # a closed loop; every node on it is a stop


class City:
    def __init__(self, seed: int = 0, width: int = 13, height: int = 10, spacing_m: float = 400.0,
                 camera_share: float = 0.3):
        self.width, self.height, self.spacing_m = width, height, spacing_m
        self._dlat = spacing_m / METERS_PER_DEG_LAT
        self._dlon = spacing_m / (METERS_PER_DEG_LAT * math.cos(math.radians(ORIGIN_LAT)))
        n_nodes = width * height
        self.node_lat = np.array([self._node_latlon(n)[0] for n in range(n_nodes)])
        self.node_lon = np.array([self._node_latlon(n)[1] for n in range(n_nodes)])

        self.zones = self._build_zones()
        self.segments: list[Segment] = []
        self.segment_by_nodes: dict[tuple[int, int], int] = {}
        self.out_segments: list[list[int]] = [[] for _ in range(n_nodes)]
        for node in range(n_nodes):
            x, y = self.node_xy(node)
            for nx, ny in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
                if 0 <= nx < width and 0 <= ny < height:
                    self._add_segment(node, self.node_at(nx, ny))

        seg = self.segments
        self.seg_length = np.array([s.length_m for s in seg])
        self.seg_free_speed = np.array([s.speed_limit_kmh / 3.6 for s in seg])  # m/s
        self.seg_zone = np.array([s.zone for s in seg])
        self.seg_heading = np.array([s.heading_deg for s in seg])
        self.seg_lat0 = self.node_lat[[s.from_node for s in seg]]
        self.seg_lon0 = self.node_lon[[s.from_node for s in seg]]
        self.seg_dlat = self.node_lat[[s.to_node for s in seg]] - self.seg_lat0
        self.seg_dlon = self.node_lon[[s.to_node for s in seg]] - self.seg_lon0

        rng = np.random.default_rng(seed)
        self.cameras: list[Camera] = []
        self.camera_of_segment = np.full(len(seg), -1)
        # Distance along each segment at which its camera counts; beyond the end where there is none.
        self.camera_line_m = np.full(len(seg), np.inf)
        for idx, s in enumerate(seg):
            share = camera_share if s.road_class != "residential" else camera_share / 5
            if rng.random() < share:
                lat = float(self.seg_lat0[idx] + CAMERA_POSITION * self.seg_dlat[idx])
                lon = float(self.seg_lon0[idx] + CAMERA_POSITION * self.seg_dlon[idx])
                self.camera_of_segment[idx] = len(self.cameras)
                self.camera_line_m[idx] = CAMERA_POSITION * s.length_m
                self.cameras.append(Camera(f"CAM-{len(self.cameras) + 1:04d}", idx, lat, lon))

        self.stations = [Station(f"WS-{z.zone_id}", i, z.latitude, z.longitude)
                         for i, z in enumerate(self.zones)]
        self.zone_x_m = np.array([(z.longitude - ORIGIN_LON) / self._dlon * spacing_m for z in self.zones])
        self.bus_routes = self._build_bus_routes()

    # -- geometry -----------------------------------------------------------------------------------

    def node_at(self, x: int, y: int) -> int:
        return y * self.width + x

    def node_xy(self, node: int) -> tuple[int, int]:
        return node % self.width, node // self.width

    def _node_latlon(self, node: int) -> tuple[float, float]:
        x, y = self.node_xy(node)
        return ORIGIN_LAT + y * self._dlat, ORIGIN_LON + x * self._dlon

    def zone_of_point(self, fx: float, fy: float) -> int:
        """Zone index of a point in grid coordinates (3 x 3 zones)."""
        zx = min(2, int(fx * 3 / (self.width - 1)))
        zy = min(2, int(fy * 3 / (self.height - 1)))
        return zy * 3 + zx

    def _build_zones(self) -> list[Zone]:
        zones = []
        for zy in range(3):
            for zx in range(3):
                fx = (zx + 0.5) * (self.width - 1) / 3
                fy = (zy + 0.5) * (self.height - 1) / 3
                i = zy * 3 + zx
                zones.append(Zone(f"Z{i + 1:02d}", ZONE_NAMES[i], ORIGIN_LAT + fy * self._dlat,
                                  ORIGIN_LON + fx * self._dlon))
        return zones

    def _road_class(self, a: int, b: int) -> str:
        (ax, ay), (_, by) = self.node_xy(a), self.node_xy(b)
        if ay == by:  # east-west street y
            if ay in (0, self.height - 1):
                return "ring"
            return "arterial" if ay % 3 == 0 else "residential"
        if ax in (0, self.width - 1):
            return "ring"
        return "arterial" if ax % 3 == 0 else "residential"

    def _add_segment(self, a: int, b: int) -> None:
        (ax, ay), (bx, by) = self.node_xy(a), self.node_xy(b)
        road_class = self._road_class(a, b)
        limit = {"ring": 70.0, "arterial": 50.0, "residential": 30.0}[road_class]
        heading = {(1, 0): 90.0, (-1, 0): 270.0, (0, 1): 0.0, (0, -1): 180.0}[(bx - ax, by - ay)]
        idx = len(self.segments)
        self.segments.append(Segment(f"SEG-{idx + 1:04d}", a, b, self.spacing_m, limit, road_class,
                                     self.zone_of_point((ax + bx) / 2, (ay + by) / 2), heading))
        self.segment_by_nodes[(a, b)] = idx
        self.out_segments[a].append(idx)

    def _build_bus_routes(self) -> list[BusRoute]:
        rectangles = [((0, 0), (6, 6)), ((6, 3), (12, 9)), ((3, 0), (9, 9)), ((0, 3), (12, 6))]
        routes = []
        for i, ((x0, y0), (x1, y1)) in enumerate(rectangles):
            corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
            nodes = [self.node_at(x0, y0)]
            for (cx, cy), (nx, ny) in zip(corners, corners[1:]):
                sx = (nx > cx) - (nx < cx)
                sy = (ny > cy) - (ny < cy)
                while (cx, cy) != (nx, ny):
                    cx, cy = cx + sx, cy + sy
                    nodes.append(self.node_at(cx, cy))
            segs = tuple(self.segment_by_nodes[(a, b)] for a, b in zip(nodes, nodes[1:]))
            routes.append(BusRoute(f"R{i + 1}", segs))
        return routes

    def path(self, start_node: int, goal_node: int) -> list[int]:
        """Segments of a shortest grid path (east-west first, then north-south)."""
        (x, y), (gx, gy) = self.node_xy(start_node), self.node_xy(goal_node)
        segs = []
        while (x, y) != (gx, gy):
            nx, ny = (x + (gx > x) - (gx < x), y) if x != gx else (x, y + (gy > y) - (gy < y))
            segs.append(self.segment_by_nodes[(self.node_at(x, y), self.node_at(nx, ny))])
            x, y = nx, ny
        return segs
