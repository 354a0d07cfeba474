"""The living city: vehicles moving on the road network, cameras counting them, weather, incidents.

`World.step()` advances the simulated clock by one second and returns the events that second produced,
as JSON-ready dicts in contract field order. Everything random is drawn from generators seeded by the
seed, so a seed and a start time always give the same events.

The model, in short:
- Vehicles (cars, trucks, buses on fixed loop routes, emergency vehicles) drive along directed segments.
  Speed follows the segment's free-flow speed, slowed by traffic density on the segment (Greenshields),
  by weather in the zone and by incidents blocking the segment. Cars and trucks park and unpark with a
  daily activity profile (rush hours).
- A camera counts each vehicle when it leaves the camera's segment, and reports per minute.
- Each zone's weather station follows a diurnal cycle plus rain fronts that sweep across the city from
  the west; air quality rises with traffic in the zone and falls with wind and rain.
- Collisions are more likely at high speed and in rain; breakdowns, fires, medical calls and road
  hazards happen at base rates. The nearest free emergency vehicle is dispatched, really drives there,
  works on scene, and the incident is resolved: reported -> dispatched -> on_scene -> resolved.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from smartcity import contracts
from smartcity.simulator.city import City

CAR, BUS, TRUCK, EMERGENCY = 0, 1, 2, 3
VEHICLE_TYPE_NAMES = contracts.VEHICLE_TYPES  # index = code above

TELEMETRY_EVERY_S = 10
GPS_EVERY_S = 5
CAMERA_WINDOW_S = 60
WEATHER_EVERY_S = 60
JAM_DENSITY_PER_M = 0.14  # vehicles per metre per direction at standstill

# Share of parkable vehicles on the road by hour of day (rush hours at 8:00 and 17:00).
ACTIVITY_BY_HOUR = (0.15, 0.12, 0.1, 0.1, 0.15, 0.3, 0.6, 0.95, 1.0, 0.75, 0.6, 0.6,
                    0.65, 0.6, 0.6, 0.7, 0.9, 1.0, 0.9, 0.6, 0.45, 0.35, 0.25, 0.2)

Event = tuple[contracts.EventContract, dict[str, Any]]


@dataclass
class Incident:
    incident_id: str
    incident_type: str
    severity: int
    zone: int
    segment: int | None
    target_node: int  # where the responding unit goes
    latitude: float
    longitude: float
    reported_at: int  # tick
    dispatch_after: int  # earliest tick a unit can be assigned (call handling time)
    involved: list[int] = field(default_factory=list)  # vehicles stopped by the incident
    status: str = "reported"
    unit: int | None = None
    resolve_at: int | None = None


class World:
    def __init__(self, seed: int = 42, vehicles: int = 2000, start: datetime | None = None,
                 city: City | None = None):
        if vehicles < 10:
            raise ValueError("the city needs at least 10 vehicles")
        self.city = city or City(seed=seed)
        self.start = (start or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
        self.tick = 0
        self.rng = np.random.default_rng(seed)
        self._ids = random.Random(seed)
        self._build_fleet(vehicles)
        self._build_weather()
        self.incidents: dict[str, Incident] = {}
        self._incident_seq = 0
        self._cam_counts = np.zeros((len(self.city.cameras), 4), dtype=np.int64)
        self._cam_speed_sum = np.zeros(len(self.city.cameras))
        self._time_prefix_tick = -1
        self._time_prefix = ""
        self._arrived: list[Incident] = []  # units that reached their incident during this step

    # -- set-up -------------------------------------------------------------------------------------

    def _build_fleet(self, n: int) -> None:
        city, rng = self.city, self.rng
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
        self._vehicle_id_bytes = [v.encode() for v in self.vehicle_ids]
        fuel_choices = {CAR: ([0, 1, 2, 3], [0.5, 0.15, 0.2, 0.15]), TRUCK: ([1, 2], [0.85, 0.15]),
                        BUS: ([1, 2, 3], [0.4, 0.4, 0.2]), EMERGENCY: ([0, 1, 3], [0.3, 0.5, 0.2])}
        self.fuel = np.array([rng.choice(fuel_choices[t][0], p=fuel_choices[t][1]) for t in vtype])
        self.seg = rng.integers(0, len(city.segments), n)
        self.pos = rng.random(n) * city.seg_length[self.seg]
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
        # Emergency units: idle (patrolling) or en route along a path to an incident.
        self.unit_path: dict[int, list[int]] = {}
        self.unit_incident: dict[int, str] = {}

    def _build_weather(self) -> None:
        nz = len(self.city.zones)
        rng = self.rng
        self.w_temp_offset = rng.normal(0, 0.6, nz)  # micro-climate of each station
        self.w_noise = np.zeros(nz)
        self.w_mean_temp = rng.uniform(6, 16)
        self.w_wind_base = rng.uniform(1.5, 5.0)
        self.w_wind_dir = rng.uniform(200, 280)  # prevailing westerlies
        self.rain = np.zeros(nz)  # mm/h, used by speed and incident models
        self.wind = np.full(nz, self.w_wind_base)
        # Rain fronts: (start tick, speed m/s, peak mm/h, half-width m), arriving from the west.
        self.fronts: list[tuple[int, float, float, float]] = []
        self._next_front = int(rng.uniform(0, 3600))

    # -- clock ----------------------------------------------------------------------------------------

    @property
    def sim_time(self) -> datetime:
        return self.start + timedelta(seconds=self.tick)

    def _timestamp(self, ms: int) -> str:
        if self._time_prefix_tick != self.tick:
            self._time_prefix = self.sim_time.strftime("%Y-%m-%dT%H:%M:%S")
            self._time_prefix_tick = self.tick
        return f"{self._time_prefix}.{ms:03d}Z"

    def new_event_id(self) -> str:
        n = self._ids.getrandbits(128)
        n = (n & ~(0xF000 << 64) | (4 << 76)) & ~(0xC000 << 48) | (0x8000 << 48)  # version 4, RFC variant
        h = f"{n:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def hour_of_day(self) -> float:
        t = self.sim_time
        return t.hour + t.minute / 60 + t.second / 3600

    def activity(self) -> float:
        h = self.hour_of_day()
        a, b = ACTIVITY_BY_HOUR[int(h) % 24], ACTIVITY_BY_HOUR[(int(h) + 1) % 24]
        return a + (b - a) * (h - int(h))

    # -- one simulated second ---------------------------------------------------------------------------

    def step(self) -> list[Event]:
        self.tick += 1
        events: list[Event] = []
        if self.tick % WEATHER_EVERY_S == 1 or self.tick == 1:
            events.extend(self._weather_update())
        self._move_vehicles()
        events.extend(self._incidents_step())
        if self.tick % CAMERA_WINDOW_S == 0:
            events.extend(self._camera_reports())
        events.extend(self._vehicle_reports())
        return events

    def _move_vehicles(self) -> None:
        city, rng = self.city, self.rng
        active = self.park_threshold < self.activity()
        moving = active & ~self.blocked & (self.stopped_until <= self.tick)
        seg = self.seg
        density = np.bincount(seg[active], minlength=len(city.segments)) / city.seg_length
        congestion = np.clip(1.0 - density / JAM_DENSITY_PER_M, 0.08, 1.0)
        rain = self.rain[city.seg_zone[seg]]
        weather = 1.0 - 0.05 * np.minimum(rain, 6.0)
        target = city.seg_free_speed[seg] * self.driver * congestion[seg] * weather * self._seg_capacity()[seg]
        en_route = np.zeros(self.n, dtype=bool)
        if self.unit_path:
            en_route[list(self.unit_incident)] = True
            target = np.where(en_route, city.seg_free_speed[seg] * 1.3 * weather, target)
        speed = self.speed + 0.35 * (target - self.speed) + rng.normal(0, 0.4, self.n)
        speed = np.clip(speed, 0.0, 36.0)
        speed[~moving] = 0.0
        self.speed = speed
        line = city.camera_line_m[seg]
        before = self.pos
        self.pos = before + speed
        crossed = np.flatnonzero((before < line) & (self.pos >= line))  # passed a camera this second
        if len(crossed):
            cams = city.camera_of_segment[seg[crossed]]
            np.add.at(self._cam_counts, (cams, self.vtype[crossed]), 1)
            np.add.at(self._cam_speed_sum, cams, speed[crossed])
        self.odometer += speed / 1000.0
        self.energy -= speed * np.where(self.vtype == TRUCK, 2.5e-4, 1.2e-4)
        refuel = self.energy < 5
        self.energy[refuel] = 100.0  # drove to a station / charger
        for i in np.flatnonzero(self.pos >= city.seg_length[seg]).tolist():
            self._leave_segment(i)

    def _seg_capacity(self) -> np.ndarray:
        capacity = np.ones(len(self.city.segments))
        for inc in self.incidents.values():
            if inc.segment is not None and inc.status != "resolved" and inc.incident_type in (
                    "collision", "breakdown", "hazard"):
                capacity[inc.segment] *= 0.35
        return capacity

    def _leave_segment(self, i: int) -> None:
        city = self.city
        old = int(self.seg[i])
        vtype = int(self.vtype[i])
        self.pos[i] -= city.seg_length[old]
        node = city.segments[old].to_node
        if vtype == BUS:
            route = city.bus_routes[self.bus_route[i]].segments
            self.bus_step[i] = (self.bus_step[i] + 1) % len(route)
            self.seg[i] = route[self.bus_step[i]]
            self.pos[i] = 0.0
            self.stopped_until[i] = self.tick + int(self.rng.integers(10, 35))  # dwell at the stop
            self.passengers[i] = int(np.clip(self.passengers[i] + self.rng.integers(-8, 9), 0, 90))
            return
        if i in self.unit_path:
            path = self.unit_path[i]
            if not path:
                self._arrive_on_scene(i)
                return
            self.seg[i] = path.pop(0)
            return
        options = city.out_segments[node]
        if len(options) > 1:  # no U-turns unless at a dead end
            back = city.segment_by_nodes.get((node, city.segments[old].from_node))
            options = [s for s in options if s != back]
        self.seg[i] = options[int(self.rng.integers(len(options)))]

    # -- reports --------------------------------------------------------------------------------------

    def _positions(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        city = self.city
        seg = self.seg[idx]
        frac = np.minimum(self.pos[idx] / city.seg_length[seg], 1.0)
        return city.seg_lat0[seg] + frac * city.seg_dlat[seg], city.seg_lon0[seg] + frac * city.seg_dlon[seg]

    def _vehicle_reports(self) -> list[Event]:
        active = self.park_threshold < self.activity()
        phase = (np.arange(self.n) + self.tick)
        events: list[Event] = []
        gps_idx = np.flatnonzero(active & (phase % GPS_EVERY_S == 0))
        if len(gps_idx):
            events.extend(self._gps_events(gps_idx))
        tel_idx = np.flatnonzero(active & (phase % TELEMETRY_EVERY_S == 0))
        if len(tel_idx):
            events.extend(self._telemetry_events(tel_idx))
        return events

    def _gps_events(self, idx: np.ndarray) -> list[Event]:
        rng, k = self.rng, len(idx)
        lat, lon = self._positions(idx)
        accuracy = np.round(rng.uniform(2.5, 12.0, k) * (1 + 0.1 * self.rain[self.city.seg_zone[self.seg[idx]]]), 1)
        lat = np.round(lat + rng.normal(0, 1, k) * accuracy / 111_320.0, 6)
        lon = np.round(lon + rng.normal(0, 1, k) * accuracy / 68_000.0, 6)
        speed = np.round(np.maximum(self.speed[idx] * 3.6 + rng.normal(0, 1.0, k), 0.0), 1)
        heading = np.round((self.city.seg_heading[self.seg[idx]] + rng.normal(0, 3.0, k)) % 360.0, 1)
        sats = rng.integers(6, 15, k)
        ms = (idx * 37 % 1000)
        ts, ids = self._timestamp, self.vehicle_ids
        new_id, gps = self.new_event_id, contracts.GPS
        return [(gps, {"event_id": new_id(), "vehicle_id": ids[i], "event_time": ts(m), "latitude": la,
                       "longitude": lo, "speed_kmh": sp, "heading_deg": hd, "accuracy_m": ac, "satellites": sa})
                for i, m, la, lo, sp, hd, ac, sa in zip(idx.tolist(), ms.tolist(), lat.tolist(), lon.tolist(),
                                                         speed.tolist(), heading.tolist(), accuracy.tolist(),
                                                         sats.tolist())]

    def _telemetry_events(self, idx: np.ndarray) -> list[Event]:
        lat, lon = self._positions(idx)
        lat, lon = np.round(lat, 6).tolist(), np.round(lon, 6).tolist()
        speed = np.round(self.speed[idx] * 3.6, 1).tolist()
        heading = self.city.seg_heading[self.seg[idx]].tolist()
        energy = np.round(self.energy[idx], 1).tolist()
        odometer = np.round(self.odometer[idx], 2).tolist()
        engine = np.where(self.speed[idx] > 0.5, 88.0, 70.0) + self.rng.normal(0, 2.0, len(idx))
        engine = np.round(engine, 1).tolist()
        passengers = self.passengers[idx].tolist()
        route = self.bus_route[idx].tolist()
        ms = ((idx * 53 + 500) % 1000).tolist()
        ts, ids, new_id, veh = self._timestamp, self.vehicle_ids, self.new_event_id, contracts.VEHICLE
        vnames, fnames = VEHICLE_TYPE_NAMES, contracts.FUEL_TYPES
        route_ids = [r.route_id for r in self.city.bus_routes]
        out = []
        for j, (i, t, f) in enumerate(zip(idx.tolist(), self.vtype[idx].tolist(), self.fuel[idx].tolist())):
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

    def _camera_reports(self) -> list[Event]:
        cams, counts, speed_sum = self.city.cameras, self._cam_counts, self._cam_speed_sum
        totals = counts.sum(axis=1)
        ts, new_id, cc = self._timestamp, self.new_event_id, contracts.TRAFFIC_CAMERA
        out = []
        for c, cam in enumerate(cams):
            total = int(totals[c])
            out.append((cc, {
                "event_id": new_id(), "camera_id": cam.camera_id, "event_time": ts(0),
                "segment_id": self.city.segments[cam.segment].segment_id,
                "latitude": round(cam.latitude, 6), "longitude": round(cam.longitude, 6),
                "window_seconds": CAMERA_WINDOW_S, "vehicle_count": total,
                "car_count": int(counts[c, CAR]), "bus_count": int(counts[c, BUS]),
                "truck_count": int(counts[c, TRUCK]), "emergency_count": int(counts[c, EMERGENCY]),
                "mean_speed_kmh": round(float(speed_sum[c]) / total * 3.6, 1) if total else None,
            }))
        counts[:] = 0
        speed_sum[:] = 0.0
        return out

    # -- weather ----------------------------------------------------------------------------------------

    def _weather_update(self) -> list[Event]:
        city, rng, tick = self.city, self.rng, self.tick
        if tick >= self._next_front:
            speed = rng.uniform(4, 9)  # m/s, 15-30 km/h
            self.fronts.append((tick, speed, rng.uniform(1.5, 12.0), rng.uniform(900, 2200)))
            self._next_front = tick + int(rng.uniform(3, 9) * 3600)
        x = city.zone_x_m
        rain = np.zeros(len(city.zones))
        near = np.zeros(len(city.zones))  # 0..1: how close a front is (clouds, wind, pressure)
        for started, speed, peak, width in self.fronts:
            centre = -3 * width + speed * (tick - started)
            d = (x - centre) / width
            rain += peak * np.exp(-d * d)
            near = np.maximum(near, np.exp(-d * d / 6))
        self.fronts = [f for f in self.fronts if -3 * f[3] + f[1] * (tick - f[0]) < x.max() + 4 * f[3]]
        h = self.hour_of_day()
        diurnal = math.sin(2 * math.pi * (h - 9) / 24)
        self.w_noise = 0.9 * self.w_noise + rng.normal(0, 0.15, len(rain))
        temp = self.w_mean_temp + 5 * diurnal + self.w_temp_offset + self.w_noise - 3 * near
        rain = np.where(rain > 0.05, rain * rng.uniform(0.8, 1.2, len(rain)), 0.0)
        self.rain = rain
        humidity = np.clip(68 - 15 * diurnal + 30 * near + rng.normal(0, 1.5, len(rain)), 20, 100)
        wind = np.maximum(self.w_wind_base * (1 + 1.2 * near) + rng.normal(0, 0.5, len(rain)), 0.0)
        self.wind = wind
        wind_dir = (self.w_wind_dir + rng.normal(0, 12, len(rain))) % 360
        pressure = 1016 - 14 * near + rng.normal(0, 0.4, len(rain))
        in_zone = np.bincount(city.seg_zone[self.seg[self.park_threshold < self.activity()]],
                              minlength=len(city.zones))
        pm25 = (5 + 0.12 * in_zone / (1 + 0.4 * wind)) * (1 - 0.6 * np.minimum(rain / 5, 1)) + rng.gamma(2, 1, len(rain))
        events = []
        for z, st in enumerate(city.stations):
            p = float(rain[z])
            condition = ("snow" if p > 0.1 and temp[z] <= 0.5 else "heavy_rain" if p >= 4 else
                         "rain" if p >= 0.2 else "fog" if humidity[z] >= 97 and wind[z] < 2 else
                         "cloudy" if near[z] > 0.3 or humidity[z] > 85 else "clear")
            events.append((contracts.WEATHER, {
                "event_id": self.new_event_id(), "station_id": st.station_id, "event_time": self._timestamp(z * 7),
                "zone_id": city.zones[z].zone_id, "latitude": round(st.latitude, 6),
                "longitude": round(st.longitude, 6), "temperature_c": round(float(temp[z]), 1),
                "humidity_pct": round(float(humidity[z]), 1), "precipitation_mm_h": round(p, 2),
                "wind_speed_ms": round(float(wind[z]), 1), "wind_direction_deg": round(float(wind_dir[z]), 0),
                "pressure_hpa": round(float(pressure[z]), 1), "air_quality_index": aqi_from_pm25(float(pm25[z])),
                "pm25_ugm3": round(float(pm25[z]), 1), "condition": condition,
            }))
        return events

    # -- incidents ------------------------------------------------------------------------------------

    def _incidents_step(self) -> list[Event]:
        events = self._spawn_incidents()
        for inc in list(self.incidents.values()):
            if inc.status == "reported" and self.tick >= inc.dispatch_after:
                unit = self._nearest_free_unit(inc.target_node)
                if unit is not None:
                    inc.status, inc.unit = "dispatched", unit
                    self.unit_incident[unit] = inc.incident_id
                    here = self.city.segments[self.seg[unit]].to_node
                    self.unit_path[unit] = self.city.path(here, inc.target_node)
                    events.append(self._incident_event(inc))
            elif inc.status == "on_scene" and self.tick >= inc.resolve_at:
                inc.status = "resolved"
                events.append(self._incident_event(inc))
                self.blocked[inc.involved] = False
                self.blocked[inc.unit] = False
                del self.unit_incident[inc.unit]
                del self.incidents[inc.incident_id]
        for inc in self._arrived:
            events.append(self._incident_event(inc))
        self._arrived = []
        return events

    def _arrive_on_scene(self, unit: int) -> None:
        inc = self.incidents[self.unit_incident[unit]]
        del self.unit_path[unit]
        inc.status = "on_scene"
        inc.resolve_at = self.tick + int(self.rng.uniform(240, 480) + inc.severity * self.rng.uniform(120, 300))
        self.blocked[unit] = True
        self.pos[unit] = self.city.seg_length[self.seg[unit]] - 1.0
        self._arrived.append(inc)

    def _nearest_free_unit(self, node: int) -> int | None:
        city = self.city
        gx, gy = city.node_xy(node)
        best, best_d = None, None
        for u in np.flatnonzero(self.vtype == EMERGENCY).tolist():
            if u in self.unit_incident:
                continue
            x, y = city.node_xy(city.segments[self.seg[u]].to_node)
            d = abs(x - gx) + abs(y - gy)
            if best_d is None or d < best_d:
                best, best_d = u, d
        return best

    def _spawn_incidents(self) -> list[Event]:
        rng, city = self.rng, self.city
        events = []
        active = (self.park_threshold < self.activity()) & ~self.blocked & (self.vtype != EMERGENCY)
        seg = self.seg
        speed_ratio = self.speed / city.seg_free_speed[seg]
        rain = self.rain[city.seg_zone[seg]]
        p_collision = 3e-6 * (1 + 0.8 * np.minimum(rain, 8)) * speed_ratio ** 3
        p_breakdown = np.where(self.vtype == TRUCK, 2.5e-6, 1.2e-6)
        u = rng.random(self.n)
        for i in np.flatnonzero(active & (u < p_collision)).tolist():
            others = [j for j in np.flatnonzero((seg == seg[i]) & active).tolist() if j != i][:2]
            severity = int(np.clip(1 + round(3.5 * min(speed_ratio[i], 1.3) ** 2 + rng.normal(0, 0.7)), 1, 5))
            events.append(self._report(rng, "collision", severity, int(seg[i]), [i] + others))
        for i in np.flatnonzero(active & (u > 1 - p_breakdown)).tolist():
            events.append(self._report(rng, "breakdown", int(rng.choice([1, 1, 2])), int(seg[i]), [i]))
        # Off-vehicle incidents per zone: medical calls and fires at base rates, hazards with storms.
        for z in range(len(city.zones)):
            rates = {"medical": 1 / 9 / 600, "fire": 1 / 9 / 3600,
                     "hazard": (1 + 0.5 * self.rain[z] + 0.3 * max(self.wind[z] - 8, 0)) / 9 / 5400}
            for kind, rate in rates.items():
                if rng.random() < rate:
                    segs_in_zone = np.flatnonzero(city.seg_zone == z)
                    s = int(rng.choice(segs_in_zone))
                    severity = int(rng.choice([1, 2, 3, 4, 5], p=[0.3, 0.3, 0.2, 0.12, 0.08]))
                    events.append(self._report(rng, kind, severity, s if kind == "hazard" else None, [],
                                               around_segment=s))
        return events

    def _report(self, rng, kind: str, severity: int, segment: int | None, involved: list[int],
                around_segment: int | None = None) -> Event:
        city = self.city
        s = segment if segment is not None else around_segment
        if involved:
            lat, lon = (float(a[0]) for a in self._positions(np.array(involved[:1])))
        else:
            frac = rng.random()
            lat = float(city.seg_lat0[s] + frac * city.seg_dlat[s] + rng.normal(0, 3e-4))
            lon = float(city.seg_lon0[s] + frac * city.seg_dlon[s] + rng.normal(0, 4e-4))
        self._incident_seq += 1
        inc = Incident(
            incident_id=f"INC-{self._incident_seq:06d}", incident_type=kind, severity=severity,
            zone=int(city.seg_zone[s]), segment=segment, target_node=city.segments[s].to_node,
            latitude=lat, longitude=lon, reported_at=self.tick,
            dispatch_after=self.tick + int(rng.uniform(20, 120)), involved=involved)
        self.blocked[involved] = True
        self.incidents[inc.incident_id] = inc
        return self._incident_event(inc)

    def _incident_event(self, inc: Incident) -> Event:
        city = self.city
        return (contracts.EMERGENCY, {
            "event_id": self.new_event_id(), "incident_id": inc.incident_id,
            "event_time": self._timestamp(int(inc.reported_at * 7 % 1000)),
            "incident_type": inc.incident_type, "severity": inc.severity, "status": inc.status,
            "latitude": round(inc.latitude, 6), "longitude": round(inc.longitude, 6),
            "zone_id": city.zones[inc.zone].zone_id,
            "segment_id": city.segments[inc.segment].segment_id if inc.segment is not None else None,
            "unit_id": self.vehicle_ids[inc.unit] if inc.unit is not None else None,
            "vehicles_involved": len(inc.involved),
        })


_AQI_BREAKPOINTS = ((0.0, 9.0, 0, 50), (9.1, 35.4, 51, 100), (35.5, 55.4, 101, 150),
                    (55.5, 125.4, 151, 200), (125.5, 225.4, 201, 300), (225.5, 1000.0, 301, 500))


def aqi_from_pm25(pm25: float) -> int:
    """US EPA (2024) AQI for a PM2.5 concentration in µg/m³."""
    c = math.floor(max(pm25, 0.0) * 10) / 10
    for lo, hi, ilo, ihi in _AQI_BREAKPOINTS:
        if c <= hi:
            return round((ihi - ilo) / (hi - lo) * (max(c, lo) - lo) + ilo)
    return 500
