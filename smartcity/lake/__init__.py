"""The lake: storage (local folder or S3), its layout, commit manifests and the committed-data reader."""

from smartcity.lake.storage import Lake

__all__ = ["Lake"]
