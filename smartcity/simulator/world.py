"""The living city: vehicles moving on the road network, cameras counting them, weather, incidents.

`World.step()` advances the simulated clock by one second and returns the events that second produced,
as JSON-ready dicts in contract field order. Everything random is drawn from generators seeded by the
seed, so a seed and a start time always give the same events (and the same event ids: `clock`; a run
without a start time gets ids of its own). `World` only owns the clock and runs the
parts of the model, each in its own module, in a fixed order (which fixes the order of random draws):
the fleet (`fleet`), its movement (`traffic`), traffic cameras (`cameras`), weather stations (`weather`),
emergency incidents (`incidents`) and the vehicles' own reports (`telemetry`).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from smartcity.simulator.cameras import CAMERA_WINDOW_S, Cameras
from smartcity.simulator.city import City
from smartcity.simulator.clock import Clock, Event
from smartcity.simulator.fleet import Fleet
from smartcity.simulator.incidents import Incidents
from smartcity.simulator.telemetry import GPS_EVERY_S, Telemetry
from smartcity.simulator.traffic import Traffic
from smartcity.simulator.weather import Weather

__all__ = ["CAMERA_WINDOW_S", "Event", "World"]


class World:
    def __init__(self, seed: int = 42, vehicles: int = 2000, start: datetime | None = None,
                 city: City | None = None, car_gps_every_s: int = GPS_EVERY_S,
                 fleet_gps_every_s: int = GPS_EVERY_S, replay: bool | None = None):
        self.city = city = city or City(seed=seed)
        self.clock = clock = Clock(start, seed, (vehicles, car_gps_every_s, fleet_gps_every_s), replay)
        rng = np.random.default_rng(seed)  # one generator for the whole model: the order of parts matters
        self.fleet = Fleet(city, rng, vehicles)
        self.weather = Weather(city, rng, clock)
        self.traffic = Traffic(city, self.fleet, rng, clock)
        self.cameras = Cameras(city, clock)
        self.incidents = Incidents(city, self.fleet, rng, clock)
        self.telemetry = Telemetry(city, self.fleet, rng, clock, car_gps_every_s, fleet_gps_every_s)

    def step(self) -> list[Event]:
        """Advance one simulated second; the events it produced."""
        self.clock.advance()
        fleet, weather, incidents = self.fleet, self.weather, self.incidents
        on_road = fleet.on_road(self.clock.hour_of_day())
        events: list[Event] = []
        if weather.due():
            events.extend(weather.update(fleet.per_zone(on_road)))
        before = self.traffic.drive(on_road, weather.rain, incidents.seg_capacity(), incidents.en_route())
        self.cameras.count_crossings(fleet, before)
        self.traffic.leave_segments(incidents.route_unit)
        events.extend(incidents.step(on_road, weather.rain, weather.wind))
        if self.cameras.due():
            events.extend(self.cameras.report())
        events.extend(self.telemetry.reports(on_road, weather.rain))
        return events

    # -- the clock, and the fleet's state that callers (and tests) read -------------------------------------

    @property
    def tick(self) -> int:
        return self.clock.tick

    @property
    def start(self) -> datetime:
        return self.clock.start

    @property
    def sim_time(self) -> datetime:
        return self.clock.sim_time

    @property
    def seg(self) -> np.ndarray:
        return self.fleet.seg

    @property
    def pos(self) -> np.ndarray:
        return self.fleet.pos

    @property
    def speed(self) -> np.ndarray:
        return self.fleet.speed

    @property
    def vtype(self) -> np.ndarray:
        return self.fleet.vtype
