"""The embedded catalog: a DuckDB database of views over the lake folder, with column comments.

It is the local stand-in for Glue + Athena: `smartcity query` runs SQL against it. Views read the
partition folders with hive partitioning, so newly materialized partitions are visible at once;
registering a partition only checks that its files are there.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from smartcity.catalog.tables import TableDef

_DUCK_TYPES = {"string": "VARCHAR", "int": "INTEGER", "bigint": "BIGINT", "double": "DOUBLE",
               "timestamp": "TIMESTAMPTZ"}


class LocalCatalog:
    def __init__(self, path: Path, lake_root: Path):
        self.path = Path(path)
        self.lake_root = Path(lake_root)

    def connect(self, read_only: bool = False, attempts: int = 50) -> duckdb.DuckDBPyConnection:
        """Open the catalog; another process holding the write lock is waited for (briefly)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(attempts):
            try:
                return duckdb.connect(str(self.path), read_only=read_only and self.path.exists())
            except duckdb.IOException:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.1)
        raise AssertionError("unreachable")

    def register_table(self, table: TableDef) -> str:
        folder = self.lake_root / table.location
        glob = (folder / "*" / "*" / "*.parquet").as_posix()
        select = ", ".join(f'CAST("{c.name}" AS {_DUCK_TYPES[c.type]}) AS "{c.name}"' for c in table.columns)
        keys = ", ".join(f'CAST("{k.name}" AS {_DUCK_TYPES[k.type]}) AS "{k.name}"' for k in table.partition_keys)
        sql = (f'CREATE OR REPLACE VIEW "{table.name}" AS SELECT {select}, {keys} FROM '
               f"read_parquet({_literal(glob)}, hive_partitioning = true, union_by_name = true)")
        con = self.connect()
        try:
            existed = bool(con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = ?",
                                       [table.name]).fetchone()[0])
            if not any(folder.glob("*/*/*.parquet")):
                # no data yet: an empty view with the right columns, so queries still work
                empty = ", ".join(f'CAST(NULL AS {_DUCK_TYPES[c.type]}) AS "{c.name}"'
                                  for c in (*table.columns, *table.partition_keys))
                sql = f'CREATE OR REPLACE VIEW "{table.name}" AS SELECT {empty} WHERE false'
            con.execute(sql)
            con.execute(f'COMMENT ON VIEW "{table.name}" IS {_literal(table.description)}')
            for c in (*table.columns, *table.partition_keys):
                con.execute(f'COMMENT ON COLUMN "{table.name}"."{c.name}" IS {_literal(c.comment)}')
        finally:
            con.close()
        return "updated" if existed else "created"

    def add_partition(self, table: TableDef, date: str, hour: int) -> bool:
        folder = self.lake_root / table.partition_location(date, hour)
        if not any(folder.glob("*.parquet")):
            raise FileNotFoundError(f"no data files in {folder}")
        return True


def _literal(text: str) -> str:
    """A SQL string literal (COMMENT ON takes no parameters)."""
    return "'" + text.replace("'", "''") + "'"
