"""Read committed data: exactly the files that manifests name, never a file of an uncommitted batch."""

from __future__ import annotations

import pyarrow as pa

from smartcity.lake import layout, manifests
from smartcity.lake.layout import PartitionKey
from smartcity.lake.storage import Lake


class LakeReader:
    def __init__(self, lake: Lake):
        self.lake = lake
        self._committed: dict[tuple[str, int], dict[str, int]] = {}  # manifests never change once written

    def _manifest(self, stream_id: str, batch_id: int) -> dict[str, int] | None:
        """Relative path -> rows of each file the batch committed, None when it is not committed."""
        key = (stream_id, batch_id)
        if key not in self._committed:
            m = manifests.read(self.lake, stream_id, batch_id)
            if m is None:
                return None  # not committed (yet): ask again next time
            self._committed[key] = {f.path: f.rows for f in m.files}
        return self._committed[key]

    def committed(self, partition: PartitionKey) -> dict[str, int]:
        """Full path -> rows (as its manifest records) of each committed data file of one partition.

        Lists the partition folder and keeps the files whose batch manifest exists and names them:
        cost grows with the files of this partition, not with the whole lake.
        """
        directory = self.lake.path(partition.directory)
        out = {}
        for info in self.lake.list_dir(directory):
            ids = layout.parse_data_file_name(info.base_name)
            if ids is None:
                continue
            committed = self._manifest(*ids)
            if committed is not None and self.lake.relative(info.path) in committed:
                out[info.path] = committed[self.lake.relative(info.path)]
        return out

    def committed_files(self, partition: PartitionKey) -> list[str]:
        """Full paths of the committed data files of one partition."""
        return list(self.committed(partition))

    def read_partition(self, partition: PartitionKey, schema: pa.Schema | None = None) -> pa.Table:
        return self.lake.read_parquet(self.committed_files(partition), schema)

    def partitions(self, zone: str, source: str) -> list[PartitionKey]:
        """Every partition folder of a source (for audits and tests; sensors use manifests instead)."""
        base = self.lake.path(zone, f"source={source}")
        out = []
        for date_dir in self.lake.list_subdirs(base):
            for hour_dir in self.lake.list_subdirs(f"{base}/{date_dir}"):
                out.append(PartitionKey(zone, source, date_dir.split("=")[1], int(hour_dir.split("=")[1])))
        return out
