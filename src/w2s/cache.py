"""A persistent response cache: the same request to the same model is never generated twice.

Keyed by the model's fingerprint (name + weights hash or revision), the exact prompt, the
sampling parameters and the sample index (for greedy decoding the index and seed are dropped,
since every greedy sample is the same). Rows are committed as they arrive, so a run killed
midway keeps everything it generated. SQLite in WAL mode lets several processes share one file.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from w2s.errors import W2SError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    n_tokens INTEGER NOT NULL,
    finish_reason TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS scores (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    logprob REAL NOT NULL,
    n_tokens INTEGER NOT NULL,
    created REAL NOT NULL
)
"""


def stable_key(payload: dict[str, Any]) -> str:
    """A stable hash of everything that determines a cached value (built by the students)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class ResponseCache:
    """SQLite-backed map from request key to (text, n_tokens, finish_reason), and from scoring key
    to (log-probability, n_tokens); safe across threads and processes. It knows nothing of
    students: keys and the meaning of a row are theirs (`w2s.students.base`)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        if self.path.is_dir():
            raise W2SError(f"{self.path}: is a folder; the response cache must be a file path")
        if self.path.exists() and not self.path.is_file():
            raise W2SError(f"{self.path}: is not a regular file (a device or pipe); the response cache must be a "
                           "file path, e.g. --cache runs/cache.sqlite")
        deadline = time.monotonic() + 60
        for attempt in itertools.count():
            try:
                self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(_SCHEMA)
                break
            except sqlite3.OperationalError as err:
                # Several processes opening one cache at once (accelerate launch): switching to WAL
                # or recovering its index can answer "locked" at once, without SQLite's own wait.
                if ("locked" in str(err) or "busy" in str(err)) and time.monotonic() < deadline:
                    time.sleep(min(0.05 * 2**attempt, 2.0))
                    continue
                raise self._unusable(err) from None
            except sqlite3.DatabaseError as err:
                raise self._unusable(err) from None

    def _unusable(self, err: Exception) -> W2SError:
        return W2SError(f"{self.path}: not a usable response cache ({err}); move it aside "
                        f"(mv {self.path} {self.path}.broken) and rerun: answers are then generated anew")

    def get_many(self, keys: Iterable[str]) -> dict[str, tuple[str, int, str]]:
        keys = list(dict.fromkeys(keys))
        found: dict[str, tuple[str, int, str]] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, text, n_tokens, finish_reason FROM responses WHERE key IN ({marks})", chunk
                ).fetchall()
                for key, text, n_tokens, finish in rows:
                    found[key] = (text, n_tokens, finish)
        return found

    def put_many(self, model: str, items: Iterable[tuple[str, str, int, str]]) -> None:
        """Store (key, text, n_tokens, finish_reason) rows, committed before returning."""
        now = time.time()
        self._insert("responses", [(key, model, text, n, finish, now) for key, text, n, finish in items])

    def get_scores(self, keys: Iterable[str]) -> dict[str, tuple[float, int]]:
        """Cached (sum of log-probabilities, number of target tokens) per scoring key."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, tuple[float, int]] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for key, logprob, n in self._db.execute(
                        f"SELECT key, logprob, n_tokens FROM scores WHERE key IN ({marks})", chunk):
                    found[key] = (logprob, n)
        return found

    def put_scores(self, model: str, items: Iterable[tuple[str, float, int]]) -> None:
        now = time.time()
        self._insert("scores", [(key, model, logprob, n, now) for key, logprob, n in items])

    def _insert(self, table: str, rows: list[tuple]) -> None:
        """Insert rows in one transaction (committed before returning: a later crash keeps them)."""
        if not rows:
            return
        marks = ", ".join("?" * len(rows[0]))
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(f"INSERT OR REPLACE INTO {table} VALUES ({marks})", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def count(self, model: str | None = None) -> int:
        with self._lock:
            if model is None:
                return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
            return self._db.execute("SELECT COUNT(*) FROM responses WHERE model = ?", (model,)).fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
