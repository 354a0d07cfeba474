"""Traffic cameras: each counts the vehicles that pass its line near the end of a segment, by type and
with their speed, and reports the counts once per window (a minute)."""

from __future__ import annotations

import numpy as np

from smartcity import contracts
from smartcity.simulator.city import City
from smartcity.simulator.clock import Clock, Event
from smartcity.simulator.fleet import BUS, CAR, EMERGENCY, TRUCK, Fleet

CAMERA_WINDOW_S = 60


class Cameras:
    """The counts of the current window, per camera."""

    def __init__(self, city: City, clock: Clock):
        self.city, self.clock = city, clock
        self._counts = np.zeros((len(city.cameras), 4), dtype=np.int64)  # by vehicle type code
        self._speed_sum = np.zeros(len(city.cameras))

    def due(self) -> bool:
        """Whether a window ends this second."""
        return self.clock.tick % CAMERA_WINDOW_S == 0

    def count_crossings(self, fleet: Fleet, before: np.ndarray) -> None:
        """Count the vehicles that passed a camera line moving from `before` to their current position
        (on the same segment, before any vehicle moves on to the next one)."""
        seg, pos = fleet.seg, fleet.pos
        line = self.city.camera_line_m[seg]
        crossed = np.flatnonzero((before < line) & (pos >= line))
        if len(crossed):
            cams = self.city.camera_of_segment[seg[crossed]]
            np.add.at(self._counts, (cams, fleet.vtype[crossed]), 1)
            np.add.at(self._speed_sum, cams, fleet.speed[crossed])

    def report(self) -> list[Event]:
        """One report per camera for the window now ending; starts the next window."""
        city, counts, speed_sum = self.city, self._counts, self._speed_sum
        totals = counts.sum(axis=1)
        ts, new_id, cc = self.clock.timestamp, self.clock.new_event_id, contracts.TRAFFIC_CAMERA
        out = []
        for c, cam in enumerate(city.cameras):
            total = int(totals[c])
            out.append((cc, {
                "event_id": new_id(), "camera_id": cam.camera_id, "event_time": ts(0),
                "segment_id": city.segments[cam.segment].segment_id,
                "latitude": round(cam.latitude, 6), "longitude": round(cam.longitude, 6),
                "window_seconds": CAMERA_WINDOW_S, "vehicle_count": total,
                "car_count": int(counts[c, CAR]), "bus_count": int(counts[c, BUS]),
                "truck_count": int(counts[c, TRUCK]), "emergency_count": int(counts[c, EMERGENCY]),
                "mean_speed_kmh": round(float(speed_sum[c]) / total * 3.6, 1) if total else None,
            }))
        counts[:] = 0
        speed_sum[:] = 0.0
        return out
