"""One Dagster run in a fresh process (run overhead included), shared by the benchmarks.

`python -c RUN <partition key> <asset group>[,<group>...]` prints a JSON line: success, seconds, rows per
asset, seconds per step, and when the run's phases began (epoch seconds): the process (`started_at`), the
code location loaded (`loaded_at`), the first step started (`first_step_at`, after the resources — Spark —
were set up).
"""

RUN = """
import time
started_at = time.time()
import json, sys
import dagster as dg
from smartcity_assets.definitions import defs
loaded_at = time.time()
instance = dg.DagsterInstance.ephemeral()
selection = dg.AssetSelection.groups(*sys.argv[2].split(","))
result = dg.materialize(defs.assets, partition_key=sys.argv[1], resources=defs.resources, selection=selection,
                        instance=instance, raise_on_error=False)
steps = {e.step_key: e.step_success_data.duration_ms / 1000 for e in result.all_events if e.is_step_success}
rows = {e.asset_key.path[-1]: e.materialization.metadata["dagster/row_count"].value
        for e in result.get_asset_materialization_events() if "dagster/row_count" in e.materialization.metadata}
first_step_at = min(r.timestamp for r in instance.all_logs(result.run_id)
                    if r.dagster_event is not None and r.dagster_event.event_type_value == "STEP_START")
print(json.dumps({"success": result.success, "seconds": time.time() - started_at, "rows": rows, "steps": steps,
                  "started_at": started_at, "loaded_at": loaded_at, "first_step_at": first_step_at}))
"""
