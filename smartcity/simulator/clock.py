"""The simulated clock, and the stamps it puts on every event: the event time and a unique event id.

Ids belong to a run. A run given its start time (`--start`, the demo) is a replay: its ids come from everything
that decides its events (seed, start and the world's parameters), so the same command gives the same events
with the same ids, and another start, seed or fleet gives other ids. A run without a given start (`smartcity
up`, `smartcity simulate` without --start: `run.default_start` picks it) also draws a random run nonce: two
such runs never share an id, even when they start in the same second with the same seed. The run id (`run_id`, 8 hex digits of the same key) names
the run's incidents, so incident ids never collide with those of an earlier run either.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

from smartcity import contracts

Event = tuple[contracts.EventContract, dict[str, Any]]


class Clock:
    """Simulated seconds since `start` (default: now); event ids come from a generator seeded by the run's key:
    the seed, the start and `parameters` (whatever else decides the events), plus a random nonce without a
    given start (`replay` false: the start was picked for this run, not asked for)."""

    def __init__(self, start: datetime | None, seed: int, parameters: tuple = (), replay: bool | None = None):
        self.replay = start is not None if replay is None else replay
        self.start = (start or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
        self.tick = 0
        key = "/".join(map(str, (seed, self.start.isoformat(), *parameters)))
        if not self.replay:
            key += "/" + secrets.token_hex(16)
        self.run_id = hashlib.blake2b(key.encode(), digest_size=4).hexdigest()
        self._ids = random.Random(key)  # a str seed is hashed with SHA-512: the same in every process
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
