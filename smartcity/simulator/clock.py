"""The simulated clock, and the stamps it puts on every event: the event time and a unique event id."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

from smartcity import contracts

Event = tuple[contracts.EventContract, dict[str, Any]]


class Clock:
    """Simulated seconds since `start`; event ids come from a generator seeded by the seed."""

    def __init__(self, start: datetime | None, seed: int):
        self.start = (start or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
        self.tick = 0
        self._ids = random.Random(seed)
        self._prefix_tick = -1
        self._prefix = ""

    def advance(self) -> None:
        self.tick += 1

    @property
    def sim_time(self) -> datetime:
        return self.start + timedelta(seconds=self.tick)

    def hour_of_day(self) -> float:
        t = self.sim_time
        return t.hour + t.minute / 60 + t.second / 3600

    def timestamp(self, ms: int) -> str:
        """The current simulated second, `ms` milliseconds into it, as an ISO-8601 UTC string."""
        if self._prefix_tick != self.tick:
            self._prefix = self.sim_time.strftime("%Y-%m-%dT%H:%M:%S")
            self._prefix_tick = self.tick
        return f"{self._prefix}.{ms:03d}Z"

    def new_event_id(self) -> str:
        """A random (version 4) UUID string."""
        n = self._ids.getrandbits(128)
        n = (n & ~(0xF000 << 64) | (4 << 76)) & ~(0xC000 << 48) | (0x8000 << 48)  # version 4, RFC variant
        h = f"{n:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
