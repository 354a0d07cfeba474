"""Raw layer: one external asset per source. Landed by the streaming job, not computed by Dagster; its hourly
partitions become materialized when the manifest sensor sees committed data for them."""


import dagster as dg

from smartcity import contracts
from smartcity.contracts import KAFKA_FIELDS
from smartcity.lake import layout
from smartcity_assets.keys import RAW, raw_key
from smartcity_assets.metadata import OWNERS, column_schema
from smartcity_assets.partitions import HOURLY

RAW_SPECS = [
    dg.AssetSpec(
        key=raw_key(c.name),
        description=(f"{c.description} Exactly as received from Kafka topic `{c.topic}`, validated against "
                     f"its contract; one row per message (a replayed message is not duplicated), in the hour "
                     f"of its event time. Late events land in their own hour. Landed continuously by the "
                     f"streaming job (`smartcity stream`); malformed messages go to the quarantine instead."),
        group_name=RAW,
        kinds={"kafka", "spark", "parquet"},
        owners=OWNERS,
        partitions_def=HOURLY,
        metadata={"dagster/column_schema": column_schema((*c.fields, *KAFKA_FIELDS)), "topic": c.topic,
                  "entity_key": c.key,
                  "lake_path": f"{layout.raw_folder(c.name)}/{layout.HOUR_FOLDER_PATTERN}/"},
    )
    for c in contracts.CONTRACTS
]

defs = dg.Definitions(assets=RAW_SPECS)
