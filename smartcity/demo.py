"""The main job (`smartcity demo`): the platform end to end on the embedded stack, with a summary.

Today it covers: stack up -> simulated city into Kafka -> what arrived per topic, read back from the
broker and checked against the event contracts. Later layers (streaming, assets, marts) extend it.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

from smartcity import contracts, stack
from smartcity.console import table
from smartcity.errors import SmartcityError
from smartcity.kafka import read_topic
from smartcity.settings import Settings
from smartcity.simulator.run import SimulationConfig, format_report, run_simulation

log = logging.getLogger(__name__)

JAVA_HELP = ("Java 17 is required (Spark runs on it) and `java` was not found on PATH. Install it with\n"
             "  Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless\n"
             "  macOS:         brew install openjdk@17\n"
             "or set JAVA_HOME to an existing JDK 17.")


def require_java() -> str:
    """Return the Java version line, or fail with instructions to install Java 17."""
    java = shutil.which("java")
    if java is None:
        raise SmartcityError(JAVA_HELP)
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr.splitlines()
    return out[0] if out else "java (unknown version)"


def run_demo(settings: Settings, events: int, keep_stack: bool) -> int:
    print(f"[1/3] checking prerequisites: {require_java()}")
    already = stack.running_services(settings)
    print("[2/3] starting the embedded stack")
    for line in stack.up(settings):
        print("      " + line)
    started_here = stack.running_services(settings) - already
    try:
        return _run(settings, events)
    finally:
        if started_here and not keep_stack:
            print("stopping what this run started:")
            for line in stack.down(settings):
                print("      " + line)


def _run(settings: Settings, events: int) -> int:
    start = (datetime.now(timezone.utc) - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    config = SimulationConfig(events=events, speed=0.0, start=start, late_share=0.02, malformed_share=0.01)
    print(f"[3/3] simulating {events:,} events of a city of {config.vehicles:,} vehicles "
          f"(2% late, 1% malformed) into Kafka at {settings.bootstrap_servers}")
    report = run_simulation(settings, config)
    print(format_report(report))

    print("\nread back from the broker and checked against the event contracts:")
    rows, ok = [], report.failed == 0
    for contract in contracts.CONTRACTS:
        began = time.monotonic()
        arrived, reasons = 0, Counter()
        for msg in read_topic(settings, contract.topic, idle_timeout_s=1.0):
            arrived += 1
            _, reason = contract.parse(msg.value())
            if reason:
                reasons[reason.split(":")[0]] += 1
        sent = report.topics[contract.topic].sent
        ok &= arrived >= sent
        rows.append([contract.topic, sent, arrived, arrived - sum(reasons.values()), sum(reasons.values()),
                     ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) or "-",
                     f"{time.monotonic() - began:.1f}s"])
    print(table(["topic", "sent", "in broker", "valid", "malformed", "malformed by reason", "read"], rows))
    print("\nall sent events arrived" if ok else "\nSOME EVENTS DID NOT ARRIVE (see above)")
    return 0 if ok else 1
