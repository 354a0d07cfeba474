"""The code location as Dagster loads it: every asset spec (key, deps, group, owners, kinds, partitions,
checks) against a reviewed snapshot, what an analyst sees on each asset, `dagster definitions validate`, and
imports that flow one way (library -> code location, never back)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import dagster as dg

from smartcity import contracts, tables
from smartcity.live.tables import BY_NAME as LIVE_BY_NAME
from smartcity.live.tables import LIVE_TABLES
from smartcity.marts import MARTS
from smartcity.quality.rules import rules_for
from smartcity_assets.definitions import defs
from smartcity_assets.partitions import HOURLY

from .helpers import ROOT

SNAPSHOT = ROOT / "smartcity_assets_tests" / "snapshots" / "asset_specs.json"


def asset_specs() -> dict:
    graph = defs.resolve_asset_graph()
    checks: dict[str, list] = {}
    for key in graph.asset_check_keys:
        spec = graph.get_check_spec(key)
        checks.setdefault(key.asset_key.to_user_string(), []).append(
            f"{key.name}{'' if spec.blocking else ' (warn)'}")
    def dep(node, parent: dg.AssetKey) -> str:
        mapping = node.partition_mappings.get(parent)
        window = f" [{mapping.start_offset}..{mapping.end_offset}]" if isinstance(
            mapping, dg.TimeWindowPartitionMapping) else ""
        return parent.to_user_string() + window

    out = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        out[key.to_user_string()] = {
            "group": node.group_name, "deps": sorted(dep(node, d) for d in node.parent_keys),
            "owners": sorted(node.owners), "kinds": sorted(node.kinds),
            "partitions": "hourly" if node.partitions_def == HOURLY else None,
            "checks": sorted(checks.get(key.to_user_string(), [])),
        }
    return out


def test_every_asset_spec_matches_the_reviewed_snapshot():
    """A change to the graph shows up here as a diff to review; re-record with SMARTCITY_UPDATE_SNAPSHOTS=1."""
    got = asset_specs()
    if os.environ.get("SMARTCITY_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        lines = [f"  {json.dumps(key)}: {json.dumps(spec, sort_keys=True)}" for key, spec in got.items()]
        SNAPSHOT.write_text("{\n" + ",\n".join(lines) + "\n}\n")  # one line per asset: diffs show what changed
    assert got == json.loads(SNAPSHOT.read_text())


def test_the_graph_holds_every_spec_and_tells_analysts_what_it_is():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == ({f"raw/{c.name}" for c in contracts.CONTRACTS} | {f"transformed/{t.name}" for t in tables.TABLES}
                    | {f"catalog/transformed_{t.name}" for t in tables.TABLES}
                    | {f"catalog/raw_{c.name}" for c in contracts.CONTRACTS}
                    | {f"marts/{m.name}" for m in MARTS} | {f"live/{t.name}" for t in LIVE_TABLES}
                    | {"report/city_report"})
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name == key.path[0] and node.description and node.owners
        if key.path[0] == "live":  # the "now", downstream of the sources it is computed from
            assert node.partitions_def is None and node.parent_keys == {
                dg.AssetKey(["raw", s]) for s in LIVE_BY_NAME[key.path[1]].sources}
        if key.path[0] != "report":  # the report spans hours: unpartitioned, charts rather than a table
            assert node.partitions_def == (None if key.path[0] == "live" else HOURLY)
            columns = node.metadata["dagster/column_schema"].columns
            assert columns and all(c.description for c in columns)
    for table in tables.TABLES:  # one check per quality rule, blocking exactly for the hard rules
        key = dg.AssetKey(["transformed", table.name])
        found = {k.name: graph.get_check_spec(k).blocking for k in graph.asset_check_keys if k.asset_key == key}
        assert found == {r.name: r.blocking for r in rules_for(table)}
    camera = graph.get(dg.AssetKey(["transformed", "traffic_camera"])).metadata["dagster/column_schema"]
    assert [c.name for c in camera.columns] == tables.BY_NAME["traffic_camera"].column_names
    speed = next(c for c in camera.columns if c.name == "mean_speed_kmh")
    assert "unit: km/h" in speed.description and "range: 0..250" in speed.description
    assert {s.name: s.default_status for s in defs.sensors} == {
        "raw_manifest_sensor": dg.DefaultSensorStatus.RUNNING, "live_tables_sensor": dg.DefaultSensorStatus.RUNNING}


def test_dagster_validates_the_workspace():
    result = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"})
    assert result.returncode == 0, result.stderr[-2000:]


def _imports(path) -> set[str]:
    """Every module a file imports, at the top or inside a function (relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]) if node.level else ""
            found.add(".".join(p for p in (base, node.module or "") if p))
    return found


# The layers, bottom to top (docs/architecture.md): a package may import its own layer and those below it.
LAYERS = ["smartcity", "streaming", "smartcity_assets", "smartcity_commands"]


def test_imports_flow_one_way():
    """No module imports a package of a layer above its own (function-local imports count too): the library
    (`smartcity`) knows neither the streaming job, the code location nor the commands; the code location
    does not know the commands."""
    upward = []
    for rank, package in enumerate(LAYERS):
        for path in (ROOT / package).rglob("*.py"):
            above = {m for m in _imports(path) if m.split(".")[0] in LAYERS[rank + 1:]}
            upward += [f"{path.relative_to(ROOT)} -> {m}" for m in sorted(above)]
    assert upward == []
    # and the code location's domains reach each other only through the library and the shared modules
    for domain in (ROOT / "smartcity_assets" / "defs").iterdir():
        if not domain.is_dir() or domain.name.startswith("__"):
            continue
        for path in domain.rglob("*.py"):
            crossing = {m for m in _imports(path) if m.startswith("smartcity_assets.defs.")
                        and not m.startswith(f"smartcity_assets.defs.{domain.name}")}
            assert not crossing, f"{path.relative_to(ROOT)} imports {crossing}"
