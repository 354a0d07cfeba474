"""The Dagster UI in a real browser: headless Chromium (Debian's) driven by Playwright against `dagster dev`.

One real hour of city data is landed (simulator -> embedded broker -> Spark streaming job -> lake) before
`dagster dev` starts; its daemon runs the manifest sensor, which requests the run of that hour. The tests
then read what an analyst sees: the lineage graph, an asset's columns and metadata, the sensor's ticks, the
check results of the materialized partition, and a materialization launched from the UI. GraphQL is only
used to wait for state and to know what to expect; every assertion is on the rendered page.
Screenshots go to test-artifacts/ui/.
"""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from smartcity_commands import stack
from smartcity.lake import Lake, manifests
from smartcity.lake.iceberg import LakeTables
from smartcity.simulator.run import SimulationConfig, run_simulation
from streaming.job import StreamRun, run_stream

from .dagster_ui import ROOT, chromium_missing, launch_chromium, start_dagster_dev
from .helpers import embedded_settings, read_transformed

ARTIFACTS = ROOT / "test-artifacts" / "ui"
SENSOR = "raw_manifest_sensor"
ASSET = ("transformed", "traffic_camera")  # the asset whose page and checks are exercised
# Launched from the UI: another asset, so that the tests reading what the sensor's run left stay independent.
LAUNCHED = ("transformed", "weather")
WAIT_MS = 600_000  # the machine is shared with Spark jobs: wait generously, never assert on time

_missing = chromium_missing()
if _missing and os.environ.get("SMARTCITY_REQUIRE_BROWSER_TESTS") == "1":
    raise RuntimeError(f"browser tests required (SMARTCITY_REQUIRE_BROWSER_TESTS=1) but {_missing}")
pytestmark = pytest.mark.skipif(bool(_missing), reason=f"browser tests: {_missing}")


@pytest.fixture(scope="module")
def hour() -> datetime:
    """A complete past hour (partitions exist only for hours that have begun)."""
    return (datetime.now(UTC) - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)


@pytest.fixture(scope="module")
def partition(hour) -> str:
    return partition_of(hour)


def partition_of(hour: datetime) -> str:
    return hour.strftime("%Y-%m-%d-%H:00")


@pytest.fixture(scope="module")
def landed(tmp_path_factory, spark, hour):
    """A private embedded stack with ~4 simulated minutes of a 300-vehicle city landed in the lake."""
    settings = embedded_settings(tmp_path_factory.mktemp("ui") / "smartcity", spark_remote=None)  # warm Spark
    began = time.monotonic()
    stack.up(settings)
    try:
        # 15,000 events from 5 minutes past the hour: every source has rows (seed 42 has two incidents)
        config = SimulationConfig(events=15_000, vehicles=300, start=hour + timedelta(minutes=5), progress=False)
        assert run_simulation(settings, config).failed == 0
        run_stream(settings, StreamRun(available_now=True, progress=False), spark=spark)
        print(f"\nlanded {partition_of(hour)} in {time.monotonic() - began:.0f} s")
        yield settings
    finally:
        stack.down(settings)


@pytest.fixture(scope="module")
def dagster(landed, tmp_path_factory):
    began = time.monotonic()
    dev = start_dagster_dev(landed, tmp_path_factory.mktemp("dagster_home"))
    dev.graphql("mutation { setNuxSeen }")  # the one-time "join the community" dialog would cover the page
    print(f"\ndagster dev up in {time.monotonic() - began:.0f} s at {dev.url} (log: {dev.log}); "
          f"screenshots in {ARTIFACTS}")
    yield dev
    dev.stop()


@pytest.fixture(scope="module")
def sensor_run(dagster, partition) -> str:
    """The run the sensor requested for the landed hour, once it succeeded (its id)."""
    query = """query($filter: RunsFilter) { runsOrError(filter: $filter) { ... on Runs { results {
        runId status tags { key value } } } } }"""

    def finished():
        runs = dagster.graphql(query, filter={"tags": [{"key": "dagster/sensor_name", "value": SENSOR}]})
        runs = runs["runsOrError"]["results"]
        for run in runs:
            assert run["status"] not in ("FAILURE", "CANCELED"), f"the sensor's run {run['runId']} ended {run}"
        assert all({"key": "dagster/partition", "value": partition} in r["tags"] for r in runs), runs
        return runs[0]["runId"] if runs and runs[0]["status"] == "SUCCESS" else None

    began = time.monotonic()
    run_id = dagster.wait_for(f"the run {SENSOR} requested for {partition} to succeed", finished, timeout_s=900,
                              every_s=3)
    print(f"\nthe sensor's run {run_id} succeeded after {time.monotonic() - began:.0f} s more")
    return run_id


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, dagster):
    context = browser.new_context(base_url=dagster.url, viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(60_000)
    page = context.new_page()
    yield page
    context.close()


def shot(page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    print(f"screenshot: {path}")
    return path


def asset_url(key, **params) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/assets/{'/'.join(key)}" + (f"?{query}" if query else "")


def definitions():
    from smartcity_assets.definitions import defs

    return defs.resolve_asset_graph()


# -- lineage ---------------------------------------------------------------------------------------------

RENDERED_GRAPH = """() => {
  const box = fo => ({x: +fo.getAttribute('x'), y: +fo.getAttribute('y'),
                      w: +fo.getAttribute('width'), h: +fo.getAttribute('height'), text: (fo.textContent || '').trim()});
  const all = Array.from(document.querySelectorAll('svg foreignObject')).map(box).filter(b => b.text);
  const edges = Array.from(document.querySelectorAll('svg path')).map(p => p.getAttribute('d') || '')
    .map(d => d.match(/^M\\s*([\\d.]+),([\\d.]+)\\s*C.*?([\\d.]+),([\\d.]+)$/)).filter(m => m)
    .map(m => m.slice(1).map(Number));
  return {boxes: all, edges};
}"""


def _shows(label: str, name: str) -> bool:
    """Whether a node's label shows the asset name: whole, or shortened in the middle ("transforme…_camera")."""
    if "…" not in label:
        return label.startswith(name)
    head, tail = label.split("…", 1)
    return name.startswith(head) and name.endswith(tail) and len(name) > len(head) + len(tail)


def rendered_graph(data: dict, keys: set[str]) -> tuple[dict[str, dict], set[tuple[str, str]]]:
    """Asset nodes (group/name -> layout box) and the edges drawn between them, from what the graph's SVG
    drew (`data`: boxes and edges in layout coordinates, gathered at one or more zoom levels).

    A group box is the box titled with a group's name; an asset node is a box inside it whose text starts
    with the asset's name. An edge is a path from the right side of its source to the left side of its target."""
    groups = {k.split("/")[0] for k in keys}
    names = sorted({k.split("/", 1)[1] for k in keys}, key=len, reverse=True)  # longest first: gps_matched, gps
    group_boxes = [b for b in data["boxes"] if b["text"] in groups]
    nodes = {}
    for b in data["boxes"]:
        name = next((n for n in names if _shows(b["text"], n)), None)
        inside = [g for g in group_boxes if g["x"] <= b["x"] and b["x"] + b["w"] <= g["x"] + g["w"]
                  and g["y"] <= b["y"] and b["y"] + b["h"] <= g["y"] + g["h"]]
        if name and b not in group_boxes and len(inside) == 1:
            nodes[f"{inside[0]['text']}/{name}"] = b

    def node_at(x, y, side):
        for key, b in nodes.items():
            edge_x = b["x"] + b["w"] if side == "right" else b["x"]
            if abs(x - edge_x) <= 10 and b["y"] <= y <= b["y"] + b["h"]:
                return key
        return None

    edges = {(node_at(x1, y1, "right"), node_at(x2, y2, "left")) for x1, y1, x2, y2 in data["edges"]}
    return nodes, {e for e in edges if None not in e}


def test_asset_graph_shows_lineage_raw_transformed_catalog_marts(page):
    graph = definitions()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    expected_edges = {(p.to_user_string(), k.to_user_string())
                      for k in graph.get_all_asset_keys() for p in graph.get(k).parent_keys}
    groups = {k.split("/")[0] for k in keys}

    page.goto("/asset-groups")
    for group in sorted(groups):  # collapsed: one box per layer
        page.get_by_text(group, exact=True).first.wait_for()
    shot(page, "lineage-groups")

    page.keyboard.press("Alt+e")  # the graph's "Expand all groups" shortcut
    page.wait_for_url(re.compile(r"expanded="))
    zoom_out = page.locator("button:has([aria-label=zoom_out])")
    # The graph draws only what is in view, and no labels when zoomed far out: gather what it draws (layout
    # coordinates, the same at every zoom) while zooming out step by step, until every asset was seen.
    seen: dict = {"boxes": [], "edges": []}
    nodes: dict = {}
    edges: set = set()
    for _ in range(60):  # the expanded layout is computed in the background: wait for the first nodes
        if page.evaluate(RENDERED_GRAPH)["boxes"]:
            break
        page.wait_for_timeout(1000)
    for _ in range(12):
        drawn = page.evaluate(RENDERED_GRAPH)
        seen["boxes"] += [b for b in drawn["boxes"] if b not in seen["boxes"]]
        seen["edges"] += [e for e in drawn["edges"] if e not in seen["edges"]]
        nodes, edges = rendered_graph(seen, keys)
        if set(nodes) == keys and edges >= expected_edges:
            break
        zoom_out.click()
        page.wait_for_timeout(800)
    shot(page, "lineage-expanded")
    assert set(nodes) == keys, (f"assets drawn in the graph: {sorted(nodes)}; "
                                f"labels seen: {sorted({b['text'][:60] for b in seen['boxes']})}")
    assert edges == expected_edges, (f"edges drawn but not defined: {sorted(edges - expected_edges)}; "
                                     f"defined but not drawn: {sorted(expected_edges - edges)}")
    # every layer is there and flows left to right: raw -> transformed -> catalog -> marts -> report
    assert {("raw/gps", "transformed/gps"), ("transformed/gps", "transformed/gps_matched"),
            ("raw/gps", "catalog/raw_gps"), ("transformed/gps_matched", "catalog/transformed_gps_matched"),
            ("catalog/transformed_gps_matched", "marts/traffic_congestion"),
            ("marts/traffic_congestion", "report/city_report")} <= edges
    assert all(nodes[a]["x"] < nodes[b]["x"] for a, b in edges)


# -- asset page ------------------------------------------------------------------------------------------

def test_asset_page_shows_column_schema_and_metadata(page, sensor_run, landed, partition):
    node = definitions().get(dg.AssetKey(list(ASSET)))
    schema = node.metadata["dagster/column_schema"]

    page.goto(asset_url(ASSET))
    page.get_by_text(node.description[:60]).wait_for()
    page.get_by_text("data-platform").first.wait_for()  # owners
    table = page.locator("table", has=page.get_by_text("Column name", exact=True))
    for column in schema.columns:
        row = table.locator("tr", has=page.get_by_text(column.name, exact=True))
        assert row.count() == 1, f"column {column.name} is not listed once in the Columns table"
        text = row.inner_text()
        assert column.type in text and column.description in text, text
        assert ("non-nullable" in text) == (not column.constraints.nullable), text
    assert table.locator("tbody tr").count() == len(schema.columns)
    shot(page, "asset-overview")

    # the landed hour: materialized, with the row count an analyst can check against the lake
    rows = read_transformed(landed, ASSET[1], partition).num_rows
    assert rows > 0
    page.goto(asset_url(ASSET, view="partitions", partition=partition))
    page.get_by_text("dagster/row_count", exact=True).wait_for()
    metadata = page.locator("tr", has=page.get_by_text("dagster/row_count", exact=True))
    assert metadata.inner_text().split()[-1] == str(rows)
    uri = page.locator("tr", has=page.get_by_text("dagster/uri", exact=True)).inner_text().replace("\n", "")
    assert f"/lake/transformed/{ASSET[1]}" in uri, uri  # the Iceberg table's location
    # the snapshot the run committed, as the catalog has it
    snapshot = page.locator("tr", has=page.get_by_text("snapshot_id", exact=True)).inner_text().split()[-1]
    table = LakeTables.from_settings(landed).catalog.load_table(f"smartcity.transformed_{ASSET[1]}")
    assert int(snapshot) in {s.snapshot_id for s in table.snapshots()}, snapshot
    assert page.get_by_text("Materialized", exact=True).first.is_visible()
    assert page.get_by_text(sensor_run[:8], exact=True).first.is_visible()
    shot(page, "asset-partition")


# -- sensor ----------------------------------------------------------------------------------------------

def test_sensor_shows_its_ticks(page, sensor_run, landed):
    cursor = manifests.head(Lake.from_settings(landed)).dumps()
    page.goto(f"/locations/smartcity/sensors/{SENSOR}")
    page.get_by_text("Watches the streaming job's commit manifests").wait_for()
    assert page.locator("tr", has=page.get_by_text("Running", exact=True)).locator("input[type=checkbox]").is_checked()
    ticks = page.locator("table", has=page.get_by_text("Timestamp", exact=True))
    ticks.get_by_text("0 runs requested").first.wait_for()  # ticks after the first find nothing new
    shot(page, "sensor-ticks")

    page.get_by_text("All ticks", exact=True).click()
    page.get_by_role("menu").get_by_text("Requested", exact=True).click()
    requested = ticks.locator("tbody tr")
    requested.first.get_by_text(sensor_run[:8]).wait_for()
    assert requested.count() == 1  # one hour landed: one tick requested one run
    row = requested.first.inner_text()
    assert "1 run requested" in row and cursor in row, row
    shot(page, "sensor-requested-tick")


# -- checks of the materialized partition ----------------------------------------------------------------

CHECK_LABELS = {"SUCCEEDED": "Succeeded", "FAILED": "Failed", "EXECUTION_FAILED": "Failed", "SKIPPED": "Skipped"}


def check_statuses(dagster, key) -> dict[str, dict]:
    data = dagster.graphql("""query($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { ... on AssetNode {
        assetChecksOrError { ... on AssetChecks { checks { name blocking executionForLatestMaterialization {
        runId status evaluation { severity } } } } } } } }""", key={"path": list(key)})
    return {c["name"]: c for c in data["assetNodeOrError"]["assetChecksOrError"]["checks"]}


def assert_checks_shown(page, dagster, run_id: str, asset=ASSET) -> None:
    """The Checks tab lists every check of the asset with the result of `run_id`'s evaluation."""
    expected = {k.name for k in definitions().asset_check_keys if k.asset_key == dg.AssetKey(list(asset))}
    statuses = check_statuses(dagster, asset)
    assert set(statuses) == expected
    assert {c["executionForLatestMaterialization"]["runId"] for c in statuses.values()} == {run_id}
    page.set_viewport_size({"width": 1600, "height": 2000})  # the whole list in view
    page.goto(asset_url(asset, view="checks"))
    page.get_by_text(f"Checks ({len(expected)})").wait_for()
    for name, check in sorted(statuses.items()):
        label = CHECK_LABELS[check["executionForLatestMaterialization"]["status"]]
        item = page.get_by_text(name, exact=True).first.locator(
            "xpath=ancestor::*[.//text()[.='Succeeded' or .='Failed' or .='Skipped' or .='Not evaluated']][1]")
        assert label in item.inner_text(), f"check {name}: expected {label}, the page shows {item.inner_text()!r}"
        if check["blocking"]:
            assert label == "Succeeded", f"blocking check {name} did not pass on real simulated data"


def test_materialized_partition_shows_its_check_results(page, dagster, sensor_run, partition):
    # the partition's run: which hour, how many checks it evaluated, each check's result in its log
    page.goto(f"/runs/{sensor_run}")
    page.get_by_text(f"partition: {partition}").wait_for()
    page.get_by_text(re.compile(r"^\d+ checks$")).first.wait_for()
    page.get_by_placeholder("Filter").first.fill("event_id_unique")
    log = page.get_by_text(re.compile(rf"Check event_id_unique (succeeded|failed) for materialization of "
                                      rf"{ASSET[0]} / {ASSET[1]}"))
    log.wait_for()
    assert "succeeded" in log.inner_text()
    shot(page, "partition-run-checks")

    assert_checks_shown(page, dagster, sensor_run)
    shot(page, "asset-checks")


# -- materialize from the UI -----------------------------------------------------------------------------

def test_materialize_a_chosen_partition_from_the_ui(page, dagster, sensor_run, partition):
    page.goto(asset_url(LAUNCHED))
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text(f"Launch runs to materialize {LAUNCHED[0]} / {LAUNCHED[1]}").wait_for()
    chooser = dialog.get_by_placeholder("No matching partitions")
    chooser.fill(partition)
    chooser.press("Enter")
    dialog.get_by_text("1 partition", exact=True).wait_for()
    shot(page, "materialize-dialog")
    dialog.get_by_role("button", name="Launch 1 run").click()

    page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}")).wait_for()
    view = page.get_by_role("link", name="View", exact=True)  # the toast's link to the new run
    run_id = view.get_attribute("href").split("/runs/")[1].split("?")[0]
    view.click()
    page.wait_for_url(re.compile(rf"/runs/{run_id}"))
    page.get_by_text(f"partition: {partition}").wait_for()
    page.get_by_text("Success", exact=True).first.wait_for(timeout=WAIT_MS)  # the page follows the run live
    shot(page, "materialize-run-succeeded")

    run = dagster.graphql("""query($id: ID!) { runOrError(runId: $id) { ... on Run { status assetSelection { path }
        tags { key value } } } }""", id=run_id)["runOrError"]
    assert run["status"] == "SUCCESS" and run["assetSelection"] == [{"path": list(LAUNCHED)}]
    assert {"key": "dagster/partition", "value": partition} in run["tags"]
    assert not any(t["key"] == "dagster/sensor_name" for t in run["tags"])  # launched from the UI, not the sensor

    # the asset's partition now points at the new run, and its checks at the new evaluation
    page.goto(asset_url(LAUNCHED, view="partitions", partition=partition))
    page.get_by_text(run_id[:8], exact=True).first.wait_for()
    assert_checks_shown(page, dagster, run_id, LAUNCHED)
    shot(page, "materialize-checks")
