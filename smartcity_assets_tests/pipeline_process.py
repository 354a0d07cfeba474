"""The batch layer as its own process, the way a deployment runs it under the pipeline's role: one tick of the
manifest sensor, then every run it requested, with the resources `SMARTCITY_ENV` chooses — except the
warehouse, which is the PostgreSQL at `SMARTCITY_WAREHOUSE_URL` through the same loader interface (no Redshift
here). Prints one JSON line: the runs (hour or range, success).

    python -m smartcity_assets_tests.pipeline_process

Its AWS credentials are those of its environment (and of its Spark's executors), as on an instance profile.
"""

from __future__ import annotations

import json
import os

import dagster as dg

from smartcity.settings import load_settings
from smartcity_assets.definitions import definitions_for, execute_in_process
from smartcity_assets.defs.sensors import raw_manifest_sensor
from smartcity_assets.resources import WarehouseResource


def main() -> None:
    settings = load_settings()
    defs = definitions_for(settings)
    resources = {**defs.resources, "warehouse": WarehouseResource(kind="postgres",
                                                                  url=os.environ["SMARTCITY_WAREHOUSE_URL"])}
    defs = dg.Definitions(assets=defs.assets, resources=resources, executor=dg.in_process_executor)
    with dg.build_sensor_context(resources={k: resources[k] for k in ("lake", "tables")}) as context:
        tick = raw_manifest_sensor(context)
    runs = []
    for request in tick.run_requests:
        result = execute_in_process(defs, request, raise_on_error=False)
        runs.append({"partition": request.partition_key, "assets": sorted(k.to_user_string()
                                                                          for k in request.asset_selection),
                     "success": result.success,
                     "failures": [e.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]})
    print(json.dumps({"runs": runs}))


if __name__ == "__main__":
    main()
