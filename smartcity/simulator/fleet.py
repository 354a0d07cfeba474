"""The fleet: cars, trucks, buses on fixed loop routes and emergency units, one row per vehicle.

`Fleet` owns the per-vehicle state arrays (where each vehicle is, how fast it goes, its energy, ...).
Cars and trucks park and unpark with a daily activity profile (rush hours); buses and emergency units
are always on duty.
"""

from __future__ import annotations

import numpy as np

from smartcity import contracts
from smartcity.simulator.city import City

CAR, BUS, TRUCK, EMERGENCY = 0, 1, 2, 3
VEHICLE_TYPE_NAMES = contracts.VEHICLE_TYPES  # index = code above

# Share of parkable vehicles on the road by hour of day (rush hours at 8:00 and 17:00).
ACTIVITY_BY_HOUR = (0.15, 0.12, 0.1, 0.1, 0.15, 0.3, 0.6, 0.95, 1.0, 0.75, 0.6, 0.6,
                    0.65, 0.6, 0.6, 0.7, 0.9, 1.0, 0.9, 0.6, 0.45, 0.35, 0.25, 0.2)


def activity(hour: float) -> float:
    """Share of parkable vehicles on the road at `hour` (0-24), interpolated between whole hours."""
    a, b = ACTIVITY_BY_HOUR[int(hour) % 24], ACTIVITY_BY_HOUR[(int(hour) + 1) % 24]
    return a + (b - a) * (hour - int(hour))


class Fleet:
    def __init__(self, city: City, rng: np.random.Generator, n: int):
        if n < 10:
            raise ValueError("the city needs at least 10 vehicles")
        self.city = city
        n_routes = len(city.bus_routes)
        buses_per_route = max(2, round(n * 0.012))
        n_emergency = max(3, round(n * 0.01))
        n_trucks = round(n * 0.18)
        n_buses = buses_per_route * n_routes
        n_cars = n - n_buses - n_emergency - n_trucks
        if n_cars < 1:
            raise ValueError(f"{n} vehicles are too few for {n_buses} buses and {n_emergency} emergency units")
        vtype = np.concatenate([np.full(n_cars, CAR), np.full(n_trucks, TRUCK),
                                np.full(n_buses, BUS), np.full(n_emergency, EMERGENCY)])
        self.n = n
        self.vtype = vtype
        self.vehicle_ids = [f"VEH-{i + 1:05d}" for i in range(n)]
        fuel_choices = {CAR: ([0, 1, 2, 3], [0.5, 0.15, 0.2, 0.15]), TRUCK: ([1, 2], [0.85, 0.15]),
                        BUS: ([1, 2, 3], [0.4, 0.4, 0.2]), EMERGENCY: ([0, 1, 3], [0.3, 0.5, 0.2])}
        self.fuel = np.array([rng.choice(fuel_choices[t][0], p=fuel_choices[t][1]) for t in vtype])
        self.seg = rng.integers(0, len(city.segments), n)
        self.pos = rng.random(n) * city.seg_length[self.seg]  # metres into the segment
        self.speed = np.zeros(n)  # m/s
        self.driver = np.clip(rng.normal(1.0, 0.08, n), 0.75, 1.2)
        self.driver[vtype == TRUCK] *= 0.9
        self.odometer = rng.uniform(2_000, 250_000, n)
        self.energy = rng.uniform(30, 100, n)
        self.park_threshold = rng.random(n)
        self.park_threshold[vtype == TRUCK] *= 0.6  # trucks are on the road more of the day
        self.park_threshold[(vtype == BUS) | (vtype == EMERGENCY)] = -1.0  # always on duty
        self.stopped_until = np.zeros(n, dtype=np.int64)  # bus dwell at stops
        self.blocked = np.zeros(n, dtype=bool)  # stopped by an incident, or working on scene
        self.passengers = np.zeros(n, dtype=np.int64)

        # Buses start evenly spaced on their route.
        self.bus_route = np.full(n, -1)
        self.bus_step = np.zeros(n, dtype=np.int64)
        bus_idx = np.flatnonzero(vtype == BUS)
        for k, i in enumerate(bus_idx):
            r = k % n_routes
            route = city.bus_routes[r].segments
            step = (k // n_routes) * len(route) // buses_per_route
            self.bus_route[i], self.bus_step[i] = r, step
            self.seg[i], self.pos[i] = route[step], 0.0
            self.passengers[i] = rng.integers(5, 40)

    def on_road(self, hour: float) -> np.ndarray:
        """Which vehicles are on the road (not parked) at `hour`."""
        return self.park_threshold < activity(hour)

    def per_zone(self, which: np.ndarray) -> np.ndarray:
        """How many of the vehicles selected by the mask `which` are in each zone."""
        return np.bincount(self.city.seg_zone[self.seg[which]], minlength=len(self.city.zones))

    def positions(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latitude and longitude of the vehicles `idx`."""
        city = self.city
        seg = self.seg[idx]
        frac = np.minimum(self.pos[idx] / city.seg_length[seg], 1.0)
        return city.seg_lat0[seg] + frac * city.seg_dlat[seg], city.seg_lon0[seg] + frac * city.seg_dlon[seg]
