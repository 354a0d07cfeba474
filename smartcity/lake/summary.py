"""What landed: rows per source and hourly partition, quarantined messages by reason (from manifests)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from smartcity.console import table
from smartcity.lake import layout, manifests
from smartcity.lake.storage import Lake


@dataclass
class LandingSummary:
    batches: int = 0
    raw: Counter = field(default_factory=Counter)  # (source, date, hour) -> rows
    quarantined: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # source -> reason
    cursor: manifests.Cursor = field(default_factory=manifests.Cursor)

    @property
    def landed(self) -> int:
        return sum(self.raw.values())

    @property
    def quarantined_total(self) -> int:
        return sum(sum(c.values()) for c in self.quarantined.values())


def summarize(lake: Lake, after: manifests.Cursor | None = None) -> LandingSummary:
    found, cursor = manifests.list_after(lake, after or manifests.Cursor())
    summary = LandingSummary(batches=len(found), cursor=cursor)
    for m in found:
        for f in m.files:
            if f.zone == layout.RAW:
                summary.raw[(f.source, f.date, f.hour)] += f.rows
        for source, reasons in m.quarantine_reasons.items():
            summary.quarantined[source].update(reasons)
    return summary


def format_summary(summary: LandingSummary) -> str:
    rows = [[s, f"{d} {h:02d}:00", n] for (s, d, h), n in sorted(summary.raw.items())]
    out = [f"landed {summary.landed:,} rows in {summary.batches} committed micro-batches; "
           f"quarantined {summary.quarantined_total:,}",
           table(["source", "hour (UTC)", "rows"], rows)]
    if summary.quarantined_total:
        q = []
        for source, reasons in sorted(summary.quarantined.items()):
            kinds = Counter()
            for reason, n in reasons.items():
                kinds[reason.split(":")[0]] += n
            q += [[source, kind, n] for kind, n in sorted(kinds.items())]
        out += ["quarantined messages by reason:", table(["source", "reason", "messages"], q)]
    return "\n".join(out)
