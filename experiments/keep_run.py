"""Keep a long study's small files in the repository, so a new machine continues it.

A session's machine may be a new one (its run folders, response cache and model folders gone).
What a study has computed lives in small files (answers, filtered sets, samples, pairs, summaries,
timings); `w2s reason run` needs a model folder again only while an unfinished step still reads it.
So at the end of each session the small files are saved into the results folder (JSONL gzipped),
and a new machine restores them into a fresh run folder before resuming.

    python experiments/keep_run.py save RUN_DIR KEEP_DIR      # RUN_DIR's small files -> KEEP_DIR
    python experiments/keep_run.py restore KEEP_DIR RUN_DIR   # only files RUN_DIR lacks

Model folders, trainer checkpoints (a WST run's `checkpoint-N/` too: its optimizer state is too
big to keep, and a checkpoint without it would resume a different run), tracker logs and partial
outputs are never saved; a finished WST teacher (`final/`, an adapter of ~20 MB) is. Restoring
never overwrites a file; paths inside the files are kept as written (they name the run folder).
"""

from __future__ import annotations

import argparse
import gzip
import shutil
from pathlib import Path

SKIP_PARTS = {"models", "logs", "trainer"}  # model folders, tracker logs, checkpoints
MAX_BYTES = 20 * 2**20  # nothing larger is a small file


def small_files(run: Path) -> list[Path]:
    """The run's files worth keeping, relative to it."""
    kept = []
    for path in sorted(run.rglob("*")):
        rel = path.relative_to(run)
        if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_BYTES:
            continue
        if SKIP_PARTS & set(rel.parts) or any(p.endswith(".partial") or p.startswith((".", "checkpoint-"))
                                              for p in rel.parts):
            continue
        kept.append(rel)
    return kept


def save(run: Path, keep: Path) -> int:
    for rel in small_files(run):
        target = keep / (str(rel) + ".gz" if rel.suffix == ".jsonl" else rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(target.name + ".saving")
        if rel.suffix == ".jsonl":
            with (run / rel).open("rb") as source, gzip.GzipFile(temporary, "wb", mtime=0) as sink:
                shutil.copyfileobj(source, sink)
        else:
            shutil.copyfile(run / rel, temporary)
        temporary.replace(target)
    return len(small_files(run))


def restore(keep: Path, run: Path) -> int:
    restored = 0
    for rel in small_files(keep):
        plain = Path(str(rel)[: -len(".gz")]) if rel.name.endswith(".jsonl.gz") else rel
        target = run / plain
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(target.name + ".restoring")
        opener = gzip.open if plain != rel else open
        with opener(keep / rel, "rb") as source, temporary.open("wb") as sink:
            shutil.copyfileobj(source, sink)
        temporary.replace(target)
        restored += 1
    return restored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["save", "restore"])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    args = parser.parse_args()
    if not args.source.is_dir():  # nothing kept yet (a study's first session): nothing to restore
        if args.action == "restore" and not args.source.exists():
            print(f"keep_run: nothing kept in {args.source} yet")
            return
        raise SystemExit(f"keep_run: {args.source} is not a folder")
    count = (save if args.action == "save" else restore)(args.source, args.target)
    print(f"keep_run: {args.action}d {count} files from {args.source} into {args.target}")


if __name__ == "__main__":
    main()
