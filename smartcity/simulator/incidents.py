"""Emergency incidents and the units that respond to them.

Collisions are more likely at high speed and in rain; breakdowns, fires, medical calls and road hazards
happen at base rates (hazards more with storms). After the call handling time the nearest free emergency
unit is dispatched, really drives there, works on scene, and the incident is resolved:
reported -> dispatched -> on_scene -> resolved. Collisions, breakdowns and hazards narrow their segment.
Incident ids carry the run's id (`INC-<run>-<n>`, `Clock.run_id`), so a new run's incidents never merge into
those an earlier run left in the live tables or the marts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from smartcity import contracts
from smartcity.simulator.city import City
from smartcity.simulator.clock import Clock, Event
from smartcity.simulator.fleet import EMERGENCY, TRUCK, Fleet

BLOCKING_TYPES = ("collision", "breakdown", "hazard")
BLOCKED_CAPACITY = 0.35  # share of a segment's capacity left open by each blocking incident on it


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


class Incidents:
    """Open incidents, and which emergency unit works on which (and its path while driving there)."""

    def __init__(self, city: City, fleet: Fleet, rng: np.random.Generator, clock: Clock):
        self.city, self.fleet, self.rng, self.clock = city, fleet, rng, clock
        self.open: dict[str, Incident] = {}
        self._seq = 0
        self.unit_path: dict[int, list[int]] = {}  # unit -> segments still to drive to its incident
        self.unit_incident: dict[int, str] = {}  # unit -> incident id, from dispatch to resolution
        self._arrived: list[Incident] = []  # units that reached their incident during this second

    # -- what traffic needs to know -------------------------------------------------------------------

    def seg_capacity(self) -> np.ndarray:
        """Share of each segment's capacity left open by the incidents on it."""
        capacity = np.ones(len(self.city.segments))
        for inc in self.open.values():
            if inc.segment is not None and inc.status != "resolved" and inc.incident_type in BLOCKING_TYPES:
                capacity[inc.segment] *= BLOCKED_CAPACITY
        return capacity

    def en_route(self) -> list[int]:
        """The units driving to an incident."""
        return list(self.unit_path)

    def route_unit(self, unit: int) -> bool:
        """If `unit` drives to an incident, take it onto the next segment of its path, or on scene at the
        end of it, and return True; return False for any other vehicle."""
        path = self.unit_path.get(unit)
        if path is None:
            return False
        if path:
            self.fleet.seg[unit] = path.pop(0)
        else:
            self._arrive_on_scene(unit)
        return True

    def _arrive_on_scene(self, unit: int) -> None:
        fleet, rng = self.fleet, self.rng
        inc = self.open[self.unit_incident[unit]]
        del self.unit_path[unit]
        inc.status = "on_scene"
        inc.resolve_at = self.clock.tick + int(rng.uniform(240, 480) + inc.severity * rng.uniform(120, 300))
        fleet.blocked[unit] = True
        fleet.pos[unit] = self.city.seg_length[fleet.seg[unit]] - 1.0
        self._arrived.append(inc)

    # -- one second of incidents ----------------------------------------------------------------------

    def step(self, on_road: np.ndarray, rain: np.ndarray, wind: np.ndarray) -> list[Event]:
        """New incidents, dispatches, resolutions and arrivals on scene (`rain`, `wind` per zone)."""
        city, fleet, tick = self.city, self.fleet, self.clock.tick
        events = self._spawn(on_road, rain, wind)
        for inc in list(self.open.values()):
            if inc.status == "reported" and tick >= inc.dispatch_after:
                unit = self._nearest_free_unit(inc.target_node)
                if unit is not None:
                    inc.status, inc.unit = "dispatched", unit
                    self.unit_incident[unit] = inc.incident_id
                    here = city.segments[fleet.seg[unit]].to_node
                    self.unit_path[unit] = city.path(here, inc.target_node)
                    events.append(self._event(inc))
            elif inc.status == "on_scene" and tick >= inc.resolve_at:
                inc.status = "resolved"
                events.append(self._event(inc))
                fleet.blocked[inc.involved] = False
                fleet.blocked[inc.unit] = False
                del self.unit_incident[inc.unit]
                del self.open[inc.incident_id]
        events.extend(self._event(inc) for inc in self._arrived)
        self._arrived = []
        return events

    def _nearest_free_unit(self, node: int) -> int | None:
        city, fleet = self.city, self.fleet
        gx, gy = city.node_xy(node)
        best, best_d = None, None
        for u in np.flatnonzero(fleet.vtype == EMERGENCY).tolist():
            if u in self.unit_incident:
                continue
            x, y = city.node_xy(city.segments[fleet.seg[u]].to_node)
            d = abs(x - gx) + abs(y - gy)
            if best_d is None or d < best_d:
                best, best_d = u, d
        return best

    def _spawn(self, on_road: np.ndarray, rain: np.ndarray, wind: np.ndarray) -> list[Event]:
        rng, city, fleet = self.rng, self.city, self.fleet
        events = []
        active = on_road & ~fleet.blocked & (fleet.vtype != EMERGENCY)
        seg = fleet.seg
        speed_ratio = fleet.speed / city.seg_free_speed[seg]
        seg_rain = rain[city.seg_zone[seg]]
        p_collision = 3e-6 * (1 + 0.8 * np.minimum(seg_rain, 8)) * speed_ratio ** 3
        p_breakdown = np.where(fleet.vtype == TRUCK, 2.5e-6, 1.2e-6)
        u = rng.random(fleet.n)
        for i in np.flatnonzero(active & (u < p_collision)).tolist():
            others = [j for j in np.flatnonzero((seg == seg[i]) & active).tolist() if j != i][:2]
            severity = int(np.clip(1 + round(3.5 * min(speed_ratio[i], 1.3) ** 2 + rng.normal(0, 0.7)), 1, 5))
            events.append(self._report("collision", severity, int(seg[i]), [i] + others))
        for i in np.flatnonzero(active & (u > 1 - p_breakdown)).tolist():
            events.append(self._report("breakdown", int(rng.choice([1, 1, 2])), int(seg[i]), [i]))
        # Off-vehicle incidents per zone: medical calls and fires at base rates, hazards with storms.
        for z in range(len(city.zones)):
            rates = {"medical": 1 / 9 / 600, "fire": 1 / 9 / 3600,
                     "hazard": (1 + 0.5 * rain[z] + 0.3 * max(wind[z] - 8, 0)) / 9 / 5400}
            for kind, rate in rates.items():
                if rng.random() < rate:
                    segs_in_zone = np.flatnonzero(city.seg_zone == z)
                    s = int(rng.choice(segs_in_zone))
                    severity = int(rng.choice([1, 2, 3, 4, 5], p=[0.3, 0.3, 0.2, 0.12, 0.08]))
                    events.append(self._report(kind, severity, s if kind == "hazard" else None, [],
                                               around_segment=s))
        return events

    def _report(self, kind: str, severity: int, segment: int | None, involved: list[int],
                around_segment: int | None = None) -> Event:
        city, rng, tick = self.city, self.rng, self.clock.tick
        s = segment if segment is not None else around_segment
        if involved:
            lat, lon = (float(a[0]) for a in self.fleet.positions(np.array(involved[:1])))
        else:
            frac = rng.random()
            lat = float(city.seg_lat0[s] + frac * city.seg_dlat[s] + rng.normal(0, 3e-4))
            lon = float(city.seg_lon0[s] + frac * city.seg_dlon[s] + rng.normal(0, 4e-4))
        self._seq += 1
        inc = Incident(
            incident_id=f"INC-{self.clock.run_id}-{self._seq:06d}", incident_type=kind, severity=severity,
            zone=int(city.seg_zone[s]), segment=segment, target_node=city.segments[s].to_node,
            latitude=lat, longitude=lon, reported_at=tick,
            dispatch_after=tick + int(rng.uniform(20, 120)), involved=involved)
        self.fleet.blocked[involved] = True
        self.open[inc.incident_id] = inc
        return self._event(inc)

    def _event(self, inc: Incident) -> Event:
        city = self.city
        return (contracts.EMERGENCY, {
            "event_id": self.clock.new_event_id(), "incident_id": inc.incident_id,
            "event_time": self.clock.timestamp(int(inc.reported_at * 7 % 1000)),
            "incident_type": inc.incident_type, "severity": inc.severity, "status": inc.status,
            "latitude": round(inc.latitude, 6), "longitude": round(inc.longitude, 6),
            "zone_id": city.zones[inc.zone].zone_id,
            "segment_id": city.segments[inc.segment].segment_id if inc.segment is not None else None,
            "unit_id": self.fleet.vehicle_ids[inc.unit] if inc.unit is not None else None,
            "vehicles_involved": len(inc.involved),
        })
