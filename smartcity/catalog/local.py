"""The embedded catalog: a DuckDB database of views over the lake folder, with column comments.

It is the local stand-in for Glue + Athena: `smartcity query` runs SQL against it. Views read the
partition folders with hive partitioning, so newly materialized partitions are visible at once;
registering a partition only checks that its files are there. Raw-zone views read exactly the files
their partitions' symlink manifests list (committed files only), so they are rebuilt as partitions come.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from smartcity.catalog.tables import TableDef
from smartcity.lake.layout import Hour

_DUCK_TYPES = {"string": "VARCHAR", "int": "INTEGER", "bigint": "BIGINT", "double": "DOUBLE",
               "timestamp": "TIMESTAMPTZ", "date": "DATE"}  # from the Hive types of TableDef columns


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

    def _data_files(self, table: TableDef) -> str | None:
        """What the view reads, as a read_parquet() argument; None when there is no data yet."""
        folder = self.lake_root / table.location
        if not table.symlinks:
            return _literal((folder / "*" / "*" / "*.parquet").as_posix()) if any(folder.glob("*/*/*.parquet")) else None
        files = sorted(line.removeprefix("file://") for manifest in folder.glob("*/*/symlink.txt")
                       for line in manifest.read_text().splitlines() if line)
        return "[" + ", ".join(_literal(f) for f in files) + "]" if files else None

    def register_table(self, table: TableDef) -> str:
        """Create or replace the table's view (symlink tables: over the files their manifests list)."""
        files = self._data_files(table)
        columns = (*table.columns, *table.partition_keys)
        if files is None:  # no data yet: an empty view with the right columns, so queries still work
            empty = ", ".join(f'CAST(NULL AS {_DUCK_TYPES[c.type]}) AS "{c.name}"' for c in columns)
            sql = f'CREATE OR REPLACE VIEW "{table.name}" AS SELECT {empty} WHERE false'
        else:
            select = ", ".join(f'CAST("{c.name}" AS {_DUCK_TYPES[c.type]}) AS "{c.name}"' for c in columns)
            sql = (f'CREATE OR REPLACE VIEW "{table.name}" AS SELECT {select} FROM '
                   f"read_parquet({files}, hive_partitioning = true, union_by_name = true)")
        con = self.connect()
        try:
            existed = bool(con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = ?",
                                       [table.name]).fetchone()[0])
            con.execute(sql)
            con.execute(f'COMMENT ON VIEW "{table.name}" IS {_literal(table.description)}')
            for c in columns:
                con.execute(f'COMMENT ON COLUMN "{table.name}"."{c.name}" IS {_literal(c.comment)}')
        finally:
            con.close()
        return "updated" if existed else "created"

    def add_partition(self, table: TableDef, hour: Hour) -> bool:
        folder = self.lake_root / table.partition_location(hour)
        if not any(folder.glob("symlink.txt" if table.symlinks else "*.parquet")):
            raise FileNotFoundError(f"no data files in {folder}")
        if table.symlinks:  # the view names its files: list the new ones
            self.register_table(table)
        return True


def _literal(text: str) -> str:
    """A SQL string literal (COMMENT ON takes no parameters)."""
    return "'" + text.replace("'", "''") + "'"
