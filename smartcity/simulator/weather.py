"""Weather stations, one per zone: a diurnal temperature cycle plus rain fronts that sweep across the
city from the west; air quality rises with traffic in the zone and falls with wind and rain."""

from __future__ import annotations

import math

import numpy as np

from smartcity import contracts
from smartcity.simulator.city import City
from smartcity.simulator.clock import Clock, Event

WEATHER_EVERY_S = 60


class Weather:
    """The weather of each zone: `rain` (mm/h) and `wind` (m/s) are read by traffic and incidents."""

    def __init__(self, city: City, rng: np.random.Generator, clock: Clock):
        self.city, self.rng, self.clock = city, rng, clock
        nz = len(city.zones)
        self.temp_offset = rng.normal(0, 0.6, nz)  # micro-climate of each station
        self.noise = np.zeros(nz)
        self.mean_temp = rng.uniform(6, 16)
        self.wind_base = rng.uniform(1.5, 5.0)
        self.wind_dir = rng.uniform(200, 280)  # prevailing westerlies
        self.rain = np.zeros(nz)
        self.wind = np.full(nz, self.wind_base)
        # Rain fronts: (start tick, speed m/s, peak mm/h, half-width m), arriving from the west.
        self.fronts: list[tuple[int, float, float, float]] = []
        self._next_front = int(rng.uniform(0, 3600))

    def due(self) -> bool:
        """Whether the stations report this second (the first second, then once a minute)."""
        tick = self.clock.tick
        return tick % WEATHER_EVERY_S == 1 or tick == 1

    def update(self, vehicles_per_zone: np.ndarray) -> list[Event]:
        """New weather in every zone, and one reading per station."""
        city, rng, tick = self.city, self.rng, self.clock.tick
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
        h = self.clock.hour_of_day()
        diurnal = math.sin(2 * math.pi * (h - 9) / 24)
        self.noise = 0.9 * self.noise + rng.normal(0, 0.15, len(rain))
        temp = self.mean_temp + 5 * diurnal + self.temp_offset + self.noise - 3 * near
        rain = np.where(rain > 0.05, rain * rng.uniform(0.8, 1.2, len(rain)), 0.0)
        self.rain = rain
        humidity = np.clip(68 - 15 * diurnal + 30 * near + rng.normal(0, 1.5, len(rain)), 20, 100)
        wind = np.maximum(self.wind_base * (1 + 1.2 * near) + rng.normal(0, 0.5, len(rain)), 0.0)
        self.wind = wind
        wind_dir = (self.wind_dir + rng.normal(0, 12, len(rain))) % 360
        pressure = 1016 - 14 * near + rng.normal(0, 0.4, len(rain))
        pm25 = ((5 + 0.12 * vehicles_per_zone / (1 + 0.4 * wind)) * (1 - 0.6 * np.minimum(rain / 5, 1))
                + rng.gamma(2, 1, len(rain)))
        events = []
        for z, st in enumerate(city.stations):
            p = float(rain[z])
            condition = ("snow" if p > 0.1 and temp[z] <= 0.5 else "heavy_rain" if p >= 4 else
                         "rain" if p >= 0.2 else "fog" if humidity[z] >= 97 and wind[z] < 2 else
                         "cloudy" if near[z] > 0.3 or humidity[z] > 85 else "clear")
            events.append((contracts.WEATHER, {
                "event_id": self.clock.new_event_id(), "station_id": st.station_id,
                "event_time": self.clock.timestamp(z * 7),
                "zone_id": city.zones[z].zone_id, "latitude": round(st.latitude, 6),
                "longitude": round(st.longitude, 6), "temperature_c": round(float(temp[z]), 1),
                "humidity_pct": round(float(humidity[z]), 1), "precipitation_mm_h": round(p, 2),
                "wind_speed_ms": round(float(wind[z]), 1), "wind_direction_deg": round(float(wind_dir[z]), 0),
                "pressure_hpa": round(float(pressure[z]), 1), "air_quality_index": aqi_from_pm25(float(pm25[z])),
                "pm25_ugm3": round(float(pm25[z]), 1), "condition": condition,
            }))
        return events


_AQI_BREAKPOINTS = ((0.0, 9.0, 0, 50), (9.1, 35.4, 51, 100), (35.5, 55.4, 101, 150),
                    (55.5, 125.4, 151, 200), (125.5, 225.4, 201, 300), (225.5, 1000.0, 301, 500))


def aqi_from_pm25(pm25: float) -> int:
    """US EPA (2024) AQI for a PM2.5 concentration in µg/m³."""
    c = math.floor(max(pm25, 0.0) * 10) / 10
    for lo, hi, ilo, ihi in _AQI_BREAKPOINTS:
        if c <= hi:
            return round((ihi - ilo) / (hi - lo) * (max(c, lo) - lo) + ilo)
    return 500
