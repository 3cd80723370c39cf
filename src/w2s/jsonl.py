"""JSONL reading and writing with errors that name the file and line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from w2s.errors import W2SError, redact_data


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line_number, row) for each non-blank line; one-line error on bad JSON or non-objects."""
    path = Path(path)
    if not path.is_file():
        raise W2SError(f"{path}: no such file")
    opener = _open_gz if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:  # bytes, decoded line by line: a bad byte names its line
        for number, raw in _lines(handle, path):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise W2SError(f"{path}:{number}: not UTF-8 text (JSONL files must be UTF-8 encoded)") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line, parse_constant=_refuse_constant)
            except json.JSONDecodeError as err:
                raise W2SError(f"{path}:{number}: invalid JSON ({err.msg} at column {err.colno})") from None
            except ValueError as err:  # e.g. an integer of more digits than Python converts
                raise W2SError(f"{path}:{number}: unreadable JSON ({str(err).split(';')[0]})") from None
            if not isinstance(row, dict):
                raise W2SError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            yield number, row


def read_json(path: str | Path) -> Any:
    """A JSON file, with a one-line error naming it when it is missing, truncated or not UTF-8."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise W2SError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise W2SError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise W2SError(f"{path}:{err.lineno}: invalid JSON ({err.msg}); is the file truncated?") from None


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
    write_atomic(path, (json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def write_json(path: str | Path, data: Any, indent: int | None = 2) -> None:
    """Write one JSON document atomically (see `write_atomic`)."""
    write_atomic(path, [json.dumps(data, indent=indent)])


def write_atomic(path: str | Path, chunks: Iterable[str]) -> None:
    """Write text to `path` through a temporary file in the same folder, then rename it into place.

    The temporary name is new and unique (`mkstemp`), so it can never be one of the user's files:
    a fixed name such as `OUTPUT.tmp` would silently replace an input that happens to have it.
    """
    import os
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise W2SError(f"{path}: is a folder; expected a file path for the output")
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".w2s-partial")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for chunk in chunks:
                handle.write(redact_data(chunk))  # no key in play ever reaches a file
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp's 0600 would hide results from the user's group
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _refuse_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (Python reads them by default): a gold answer of NaN would be
    graded wrong every time and written back as invalid JSON."""
    raise ValueError(f"{name} is not a JSON value")


def _lines(handle, path: Path) -> Iterator[tuple[int, bytes]]:
    """Numbered lines; a .gz file that is not gzip, or is cut short, is one line naming it."""
    import gzip
    import zlib

    number = 0
    try:
        for number, raw in enumerate(handle, start=1):
            yield number, raw
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise W2SError(f"{path}:{number + 1}: not a complete gzip file ({err or 'truncated'})") from None


def _open_gz(path: Path, mode: str = "rb"):
    import gzip

    return gzip.open(path, mode)
