"""Deliberate imperfections for testing the pipeline: late (out-of-order) and malformed messages.

Shares are exact: of the first n messages, exactly floor(n * share) are chosen (a Bresenham-style
counter rather than a coin toss), and malformed kinds are taken in turn, so a run of N messages
contains exactly the requested number of each kind.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

import orjson

from smartcity.contracts import EventContract, Field

MALFORMED_KINDS = ("bad_json", "missing_field", "wrong_type", "out_of_range")


class ExactShare:
    """Chooses exactly floor(n * share + phase) of the first n calls."""

    def __init__(self, share: float, phase: float = 0.0):
        self.share, self.phase, self.n = share, phase, 0

    def __call__(self) -> bool:
        before = int(self.n * self.share + self.phase)
        self.n += 1
        return int(self.n * self.share + self.phase) > before


@dataclass(frozen=True)
class Corruption:
    payload: bytes
    kind: str
    expected_reason: str  # what the contract validator must answer for this payload


class MalformedInjector:
    def __init__(self, share: float, kinds: tuple[str, ...] = MALFORMED_KINDS):
        unknown = set(kinds) - set(MALFORMED_KINDS)
        if unknown or not kinds:
            raise ValueError(f"malformed kinds must be among {', '.join(MALFORMED_KINDS)}; got {kinds}")
        self.choose = ExactShare(share)
        self.kinds = kinds
        self._next_kind = 0
        self._turn = 0  # rotates the corrupted field

    def maybe_corrupt(self, contract: EventContract, record: dict[str, Any]) -> Corruption | None:
        if not self.choose():
            return None
        kind = self.kinds[self._next_kind % len(self.kinds)]
        self._next_kind += 1
        self._turn += 1
        return corrupt(contract, record, kind, self._turn)


def corrupt(contract: EventContract, record: dict[str, Any], kind: str, turn: int = 0) -> Corruption:
    """Make one malformed message of the given kind out of a valid record."""
    bad = dict(record)
    if kind == "bad_json":
        text = orjson.dumps(record)
        return Corruption(text[: len(text) * 2 // 3], kind, "invalid_json")
    if kind == "missing_field":
        f = _pick([f for f in contract.fields if not f.nullable], turn)
        del bad[f.name]
        reason = f"missing_field:{f.name}"
    elif kind == "wrong_type":
        f = _pick([f for f in contract.fields if f.is_numeric], turn)
        bad[f.name] = "n/a"
        reason = f"wrong_type:{f.name}"
    elif kind == "out_of_range":
        f = _pick([f for f in contract.fields if f.is_numeric and f.max is not None], turn)
        bad[f.name] = _beyond_range(f)
        reason = f"out_of_range:{f.name}"
    else:
        raise ValueError(f"unknown malformed kind {kind!r}")
    return Corruption(orjson.dumps(bad), kind, reason)


def _pick(fields: list[Field], turn: int) -> Field:
    return fields[turn % len(fields)]


def _beyond_range(f: Field) -> float | int:
    span = f.max - (f.min or 0)
    value = f.max + max(span, 1)
    return int(value) if f.type.value == "int" else float(value)


class LateBuffer:
    """Holds chosen events back for a while, so they reach Kafka after newer events (out of order)."""

    def __init__(self, share: float, min_delay_s: int, max_delay_s: int, rng):
        self.choose = ExactShare(share, phase=0.5)
        self.min_delay_s, self.max_delay_s = min_delay_s, max(max_delay_s, min_delay_s)
        self.rng = rng
        self._heap: list[tuple[int, int, Any]] = []
        self._seq = 0

    def hold(self, now_tick: int, item: Any) -> None:
        """Keep `item` (one that `choose()` picked) until a random delay has passed."""
        release = now_tick + self.rng.randint(self.min_delay_s, self.max_delay_s)
        self._seq += 1
        heapq.heappush(self._heap, (release, self._seq, item))

    def due(self, now_tick: int) -> list[Any]:
        out = []
        while self._heap and self._heap[0][0] <= now_tick:
            out.append(heapq.heappop(self._heap)[2])
        return out

    def drain(self) -> list[Any]:
        out = [item for _, _, item in sorted(self._heap)]
        self._heap.clear()
        return out

    def __len__(self) -> int:
        return len(self._heap)
