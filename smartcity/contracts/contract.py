"""`EventContract`: one kind of event — its Kafka topic, entity key and fields — and how a message of it
is validated (see `smartcity.contracts.validation`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from smartcity.contracts.model import Field
from smartcity.contracts.validation import decode, validate_record, validate_records


@dataclass(frozen=True)
class EventContract:
    name: str  # short source name, also the raw-zone partition value: "vehicle", "gps", ...
    topic: str
    key: str  # field holding the entity id; also the Kafka message key
    description: str
    fields: tuple[Field, ...]
    _by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {f.name: f for f in self.fields})
        assert self.key in self._by_name, f"{self.name}: key {self.key} is not a field"

    def __getitem__(self, name: str) -> Field:
        return self._by_name[name]

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([f.arrow_field() for f in self.fields],
                         metadata={"contract": self.name, "topic": self.topic, "key": self.key})

    def validate(self, record: Any) -> tuple[dict[str, Any] | None, str | None]:
        """A decoded JSON value checked against the contract: (typed record, None) or (None, reason)."""
        return validate_record(self.fields, record)

    def validate_batch(self, records: list[Any]) -> tuple[pa.RecordBatch, list[int], list[tuple[int, str]]]:
        """Many records at once, column-wise: (valid rows as a typed batch, their positions, rejections)."""
        return validate_records(self.fields, self.arrow_schema(), records)

    def parse(self, payload: bytes | str | None) -> tuple[dict[str, Any] | None, str | None]:
        """Decode one Kafka message value and validate it."""
        record, reason = decode(payload)
        return (None, reason) if reason else self.validate(record)
