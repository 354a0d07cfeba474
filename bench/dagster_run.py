"""One Dagster run in a fresh process (run overhead included), shared by the benchmarks.

`python -c RUN <partition key> <asset group>` prints a JSON line: success, seconds, rows per asset and
seconds per step.
"""

RUN = """
import json, sys, time
started = time.perf_counter()
import dagster as dg
from smartcity_assets.definitions import defs
result = dg.materialize(defs.assets, partition_key=sys.argv[1], resources=defs.resources,
                        selection=dg.AssetSelection.groups(sys.argv[2]))
steps = {e.step_key: e.step_success_data.duration_ms / 1000 for e in result.all_events if e.is_step_success}
rows = {e.asset_key.path[1]: e.materialization.metadata["dagster/row_count"].value
        for e in result.get_asset_materialization_events()}
print(json.dumps({"success": result.success, "seconds": time.perf_counter() - started, "rows": rows,
                  "steps": steps}))
"""
