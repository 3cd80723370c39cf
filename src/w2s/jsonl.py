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


def check_output(output: str | Path, *inputs: str | Path) -> Path:
    """Refuse, before any work, an output path that is one of the inputs or a folder.

    An output never overwrites an input: `w2s grade --input a.jsonl --output a.jsonl` would
    otherwise replace the user's data with the graded copy.
    """
    out = Path(output)
    if out.is_dir():
        raise W2SError(f"{out}: is a folder; --output must be a file path")
    for given in inputs:
        source = Path(given)
        if source.exists() and out.exists() and out.resolve() == source.resolve():
            raise W2SError(f"{out}: the output is also an input; choose another --output")
    return out


def refuse_overwriting_inputs(outputs: Iterable[str | Path], inputs: Iterable[str | Path | None]) -> None:
    """Refuse, before any work, a file a command will write that is one of its inputs (a data file,
    the response cache): `w2s eval --data D/responses.jsonl --output D` would replace its own data."""
    given = [Path(i).resolve() for i in inputs if i is not None and Path(i).exists()]
    for output in outputs:
        if Path(output).resolve() in given:
            raise W2SError(f"{output}: the command would write this file, but it is one of its inputs (data or "
                           "cache); choose another --output")


def check_output_folder(folder: str | Path) -> Path:
    """Refuse, before any work, an output folder that is a file, lies under a file, or cannot be
    written: a command must not generate for an hour and then fail to save what it made."""
    import os

    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise W2SError(f"{out}: is a file; --output must be a folder (it receives several files)")
    existing = next(p for p in (out, *out.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise W2SError(f"{out}: cannot be created, {existing} is a file; choose another --output")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise W2SError(f"{out}: cannot be written ({existing} is not writable); choose another --output")
    return out


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
                handle.write(chunk)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


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
