"""Names that reach SQL, object keys or Kafka (tables, columns, sources, databases, topics, partition dates):
checked against a strict pattern, never quoted or escaped blindly. `fullmatch`, so no trailing newline
slips through (`re.match` with `$` would let "gps\\n" pass)."""

from __future__ import annotations

import re
from datetime import date

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,62}")
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def identifier(name: str, what: str = "SQL identifier") -> str:
    """A table, column, schema, database or source name: lowercase letters, digits and _, at most 63."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a safe {what}: {name!r} (lowercase letters, digits and _, starting with a letter, "
                         "at most 63 characters)")
    return name


def topic(name: str) -> str:
    """A Kafka topic name as Kafka allows it: letters, digits, '.', '_' and '-', at most 249."""
    if not isinstance(name, str) or not _TOPIC.fullmatch(name) or name in (".", ".."):
        raise ValueError(f"not a valid Kafka topic name: {name!r} (letters, digits, '.', '_', '-'; at most 249)")
    return name


def partition_date(text: str) -> str:
    """A UTC date as partition folders and Glue partition values hold it: YYYY-MM-DD, a real date."""
    try:
        if isinstance(text, str) and _DATE.fullmatch(text):
            date.fromisoformat(text)
            return text
    except ValueError:
        pass
    raise ValueError(f"not a partition date (YYYY-MM-DD): {text!r}")


def partition_hour(hour: int) -> int:
    if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
        raise ValueError(f"not a partition hour (0..23): {hour!r}")
    return hour
