"""JSONL reading and writing with errors that name the file and line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from w2s.errors import W2SError


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line_number, row) for each non-blank line; one-line error on bad JSON or non-objects."""
    path = Path(path)
    if not path.is_file():
        raise W2SError(f"{path}: no such file")
    opener = _open_gz if path.suffix == ".gz" else open
    with opener(path) as handle:  # type: ignore[operator]
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise W2SError(f"{path}:{number}: invalid JSON ({err.msg} at column {err.colno})") from None
            if not isinstance(row, dict):
                raise W2SError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            yield number, row


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """All rows of a JSONL file (optionally gzipped)."""
    return [row for _, row in iter_jsonl(path)]


def require_field(row: dict[str, Any], key: str, where: str) -> Any:
    """row[key], or a one-line error naming where the row came from and which keys it has."""
    if key not in row:
        have = ", ".join(sorted(row)) or "none"
        raise W2SError(f"{where}: missing field '{key}' (fields present: {have})")
    return row[key]


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    """Write rows atomically (temp file + rename) so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


def _open_gz(path: Path):
    import gzip

    return gzip.open(path, "rt", encoding="utf-8")
