"""What vehicles on the road report: a GPS fix every 5 s (noisier in rain) and telemetry every 10 s,
each vehicle at its own phase within the interval. To simulate many hours of a city in few events, cars and trucks
(`car_gps_every_s`) and the city's own fleet of buses and emergency units (`fleet_gps_every_s`) can report
less often, telemetry always at twice the GPS interval (probe-vehicle feeds often report every 30-60 s;
at 15 s a bus still reports on every 400 m segment, so its stop arrivals are seen)."""

from __future__ import annotations

import numpy as np

from smartcity import contracts
from smartcity.simulator.city import City
from smartcity.simulator.clock import Clock, Event
from smartcity.simulator.fleet import BUS, CAR, TRUCK, VEHICLE_TYPE_NAMES, Fleet

GPS_EVERY_S = 5
TELEMETRY_EVERY_S = 10


class Telemetry:
    def __init__(self, city: City, fleet: Fleet, rng: np.random.Generator, clock: Clock,
                 car_gps_every_s: int = GPS_EVERY_S, fleet_gps_every_s: int = GPS_EVERY_S):
        self.city, self.fleet, self.rng, self.clock = city, fleet, rng, clock
        self._route_ids = [r.route_id for r in city.bus_routes]
        private = (fleet.vtype == CAR) | (fleet.vtype == TRUCK)
        self._gps_every = np.where(private, car_gps_every_s, fleet_gps_every_s)
        self._telemetry_every = self._gps_every * (TELEMETRY_EVERY_S // GPS_EVERY_S)

    def reports(self, on_road: np.ndarray, rain: np.ndarray) -> list[Event]:
        """This second's GPS fixes and telemetry of the vehicles on the road (`rain` per zone)."""
        phase = np.arange(self.fleet.n) + self.clock.tick
        events: list[Event] = []
        gps_idx = np.flatnonzero(on_road & (phase % self._gps_every == 0))
        if len(gps_idx):
            events.extend(self._gps_events(gps_idx, rain))
        tel_idx = np.flatnonzero(on_road & (phase % self._telemetry_every == 0))
        if len(tel_idx):
            events.extend(self._telemetry_events(tel_idx))
        return events

    def _gps_events(self, idx: np.ndarray, rain: np.ndarray) -> list[Event]:
        city, fleet, rng, k = self.city, self.fleet, self.rng, len(idx)
        lat, lon = fleet.positions(idx)
        accuracy = np.round(rng.uniform(2.5, 12.0, k) * (1 + 0.1 * rain[city.seg_zone[fleet.seg[idx]]]), 1)
        lat = np.round(lat + rng.normal(0, 1, k) * accuracy / 111_320.0, 6)
        lon = np.round(lon + rng.normal(0, 1, k) * accuracy / 68_000.0, 6)
        speed = np.round(np.maximum(fleet.speed[idx] * 3.6 + rng.normal(0, 1.0, k), 0.0), 1)
        heading = np.round((city.seg_heading[fleet.seg[idx]] + rng.normal(0, 3.0, k)) % 360.0, 1)
        sats = rng.integers(6, 15, k)
        ms = (idx * 37 % 1000)
        ts, ids = self.clock.timestamp, fleet.vehicle_ids
        new_id, gps = self.clock.new_event_id, contracts.GPS
        return [(gps, {"event_id": new_id(), "vehicle_id": ids[i], "event_time": ts(m), "latitude": la,
                       "longitude": lo, "speed_kmh": sp, "heading_deg": hd, "accuracy_m": ac, "satellites": sa})
                for i, m, la, lo, sp, hd, ac, sa in zip(idx.tolist(), ms.tolist(), lat.tolist(), lon.tolist(),
                                                         speed.tolist(), heading.tolist(), accuracy.tolist(),
                                                         sats.tolist())]

    def _telemetry_events(self, idx: np.ndarray) -> list[Event]:
        fleet = self.fleet
        lat, lon = fleet.positions(idx)
        lat, lon = np.round(lat, 6).tolist(), np.round(lon, 6).tolist()
        speed = np.round(fleet.speed[idx] * 3.6, 1).tolist()
        heading = self.city.seg_heading[fleet.seg[idx]].tolist()
        energy = np.round(fleet.energy[idx], 1).tolist()
        odometer = np.round(fleet.odometer[idx], 2).tolist()
        engine = np.where(fleet.speed[idx] > 0.5, 88.0, 70.0) + self.rng.normal(0, 2.0, len(idx))
        engine = np.round(engine, 1).tolist()
        passengers = fleet.passengers[idx].tolist()
        route = fleet.bus_route[idx].tolist()
        ms = ((idx * 53 + 500) % 1000).tolist()
        ts, ids, new_id, veh = self.clock.timestamp, fleet.vehicle_ids, self.clock.new_event_id, contracts.VEHICLE
        vnames, fnames, route_ids = VEHICLE_TYPE_NAMES, contracts.FUEL_TYPES, self._route_ids
        out = []
        for j, (i, t, f) in enumerate(zip(idx.tolist(), fleet.vtype[idx].tolist(), fleet.fuel[idx].tolist())):
            is_bus = t == BUS
            out.append((veh, {
                "event_id": new_id(), "vehicle_id": ids[i], "event_time": ts(ms[j]),
                "vehicle_type": vnames[t], "fuel_type": fnames[f], "latitude": lat[j], "longitude": lon[j],
                "speed_kmh": speed[j], "heading_deg": heading[j], "energy_level_pct": energy[j],
                "odometer_km": odometer[j], "engine_temp_c": None if fnames[f] == "electric" else engine[j],
                "route_id": route_ids[route[j]] if is_bus else None,
                "passenger_count": passengers[j] if is_bus else None,
            }))
        return out
