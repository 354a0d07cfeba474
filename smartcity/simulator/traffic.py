"""Vehicle movement on the road network.

Vehicles drive along directed segments. Speed follows the segment's free-flow speed, slowed by traffic
density on the segment (Greenshields), by rain in the zone and by incidents blocking the segment. At the
end of a segment buses take the next segment of their loop route (after a dwell at the stop), units
driving to an incident follow their path, and everyone else turns at random (no U-turns).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from smartcity.simulator.city import City
from smartcity.simulator.clock import Clock
from smartcity.simulator.fleet import BUS, TRUCK, Fleet

JAM_DENSITY_PER_M = 0.14  # vehicles per metre per direction at standstill


class Traffic:
    """Moves the fleet: updates its speeds, positions, odometers, energy and segments."""

    def __init__(self, city: City, fleet: Fleet, rng: np.random.Generator, clock: Clock):
        self.city, self.fleet, self.rng, self.clock = city, fleet, rng, clock

    def drive(self, on_road: np.ndarray, rain: np.ndarray, capacity: np.ndarray,
              en_route: list[int]) -> np.ndarray:
        """One second of driving along the current segments; returns the positions before it.

        `rain` is per zone (mm/h), `capacity` the share of each segment left open by incidents,
        `en_route` the emergency units driving to an incident (they go faster).
        """
        city, fleet = self.city, self.fleet
        moving = on_road & ~fleet.blocked & (fleet.stopped_until <= self.clock.tick)
        seg = fleet.seg
        density = np.bincount(seg[on_road], minlength=len(city.segments)) / city.seg_length
        congestion = np.clip(1.0 - density / JAM_DENSITY_PER_M, 0.08, 1.0)
        weather = 1.0 - 0.05 * np.minimum(rain[city.seg_zone[seg]], 6.0)
        target = city.seg_free_speed[seg] * fleet.driver * congestion[seg] * weather * capacity[seg]
        if en_route:
            is_en_route = np.zeros(fleet.n, dtype=bool)
            is_en_route[en_route] = True
            target = np.where(is_en_route, city.seg_free_speed[seg] * 1.3 * weather, target)
        speed = fleet.speed + 0.35 * (target - fleet.speed) + self.rng.normal(0, 0.4, fleet.n)
        speed = np.clip(speed, 0.0, 36.0)
        speed[~moving] = 0.0
        fleet.speed = speed
        before = fleet.pos
        fleet.pos = before + speed
        fleet.odometer += speed / 1000.0
        fleet.energy -= speed * np.where(fleet.vtype == TRUCK, 2.5e-4, 1.2e-4)
        fleet.energy[fleet.energy < 5] = 100.0  # drove to a station / charger
        return before

    def leave_segments(self, routed: Callable[[int], bool]) -> None:
        """Take every vehicle that reached the end of its segment onto the next one.

        `routed(i)` moves vehicle i on and returns True if it follows a route of its own (an emergency
        unit driving to an incident); it is called in vehicle order, between the random turns of others.
        """
        city, fleet = self.city, self.fleet
        for i in np.flatnonzero(fleet.pos >= city.seg_length[fleet.seg]).tolist():
            old = int(fleet.seg[i])
            fleet.pos[i] -= city.seg_length[old]
            if fleet.vtype[i] == BUS:
                self._next_stop(i)
            elif not routed(i):
                node = city.segments[old].to_node
                options = city.out_segments[node]
                if len(options) > 1:  # no U-turns unless at a dead end
                    back = city.segment_by_nodes.get((node, city.segments[old].from_node))
                    options = [s for s in options if s != back]
                fleet.seg[i] = options[int(self.rng.integers(len(options)))]

    def _next_stop(self, i: int) -> None:
        fleet, rng = self.fleet, self.rng
        route = self.city.bus_routes[fleet.bus_route[i]].segments
        fleet.bus_step[i] = (fleet.bus_step[i] + 1) % len(route)
        fleet.seg[i] = route[fleet.bus_step[i]]
        fleet.pos[i] = 0.0
        fleet.stopped_until[i] = self.clock.tick + int(rng.integers(10, 35))  # dwell at the stop
        fleet.passengers[i] = int(np.clip(fleet.passengers[i] + rng.integers(-8, 9), 0, 90))
