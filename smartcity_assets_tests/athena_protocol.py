"""botocore 1.44 speaks Athena's REST-JSON protocol, which moto 5.2 does not route (every Athena call to moto is
a 404, in server and in decorator mode). `athena_json_protocol()` gives botocore — the clients of this process
and of the commands it starts (AWS_DATA_PATH), and moto's own router — a copy of botocore's Athena model on the
JSON-RPC protocol (X-Amz-Target: AmazonAthena.<Operation>, POST /), the one botocore used before. Test harness
only: the project's code is unchanged and talks to real Athena with botocore's own model. conftest.py applies
it before any test creates a client."""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from pathlib import Path


def athena_json_protocol() -> None:
    """AWS_DATA_PATH holds an Athena model on the JSON-RPC protocol (X-Amz-Target: AmazonAthena.<Operation>),
    which moto routes; clients created from then on use it (set before any test creates a boto3 session)."""
    import botocore

    source = Path(botocore.__file__).parent / "data" / "athena"
    (version,) = [p.name for p in source.iterdir() if p.is_dir()]
    model = json.loads(gzip.open(source / version / "service-2.json.gz").read())
    if model["metadata"]["protocol"] == "json":
        return
    model["metadata"].update(protocol="json", protocols=["json"], jsonVersion="1.1", targetPrefix="AmazonAthena")
    for operation in model["operations"].values():  # JSON-RPC: every call is a POST to / (the target names it)
        operation["http"] = {"method": "POST", "requestUri": "/"}
    root = Path(tempfile.mkdtemp(prefix="botocore-athena-"))
    (root / "athena" / version).mkdir(parents=True)
    (root / "athena" / version / "service-2.json").write_text(json.dumps(model))
    # clients (this process and the commands it starts) ...
    os.environ["AWS_DATA_PATH"] = os.pathsep.join(filter(None, [str(root), os.environ.get("AWS_DATA_PATH")]))
    # ... and moto's server, which routes requests with botocore's models through a loader of its own
    import moto.core.utils
    from moto.core.loaders import Loader, moto_root

    moto.core.utils.create_loader = lambda: Loader(extra_search_paths=[str(root), moto_root])
    moto.core.utils.get_service_model.cache_clear()
