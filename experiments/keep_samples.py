"""Keep a model's cached answers across machines, usable again only if the model is the same bit for bit.

A step that generates for hours (the 1.5B study's Stage II samples) writes its output file only at
its end; until then what it generated lives in the response cache, which a new machine loses. Its
model (a trained folder, gigabytes) is lost too and is trained again from the same rows, settings
and seed. The cache is keyed by the folder's fingerprint, which hashes the weights' sizes and edges
*and* the folder's JSON files, among them `training_log.json`, whose run times differ on every
retraining even when the weights do not (at the 1.5B study's pinned commit; w2s now leaves the
training log out of the fingerprint, so there only the answers need keeping). So:

    python experiments/keep_samples.py save MODEL_DIR KEEP_PREFIX      # end of a session
    python experiments/keep_samples.py restore MODEL_DIR KEEP_PREFIX   # after the model is retrained

`save` writes KEEP_PREFIX.json (the SHA-256 of every weight file, the folder's fingerprint and its
training log) and KEEP_PREFIX.jsonl.gz (the cache rows generated with that model). `restore`
hashes the retrained weights in full: only if every weight file is identical does it put the kept
training log back (so the fingerprint, and the cache keys, are the old ones; it checks that they
are) and add the kept rows to the cache. Otherwise it changes nothing and says so: answers of a
different model are never reused. Run with the study's pinned `w2s` on PYTHONPATH, so the
fingerprint is computed as the study computes it.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sqlite3
from pathlib import Path

from w2s.cache import ResponseCache
from w2s.models.sources import folder_hash
from w2s.paths import default_cache_path

LOG = "training_log.json"


def weight_hashes(model: Path) -> dict[str, str]:
    """Full SHA-256 of each weight file: folder_hash reads only each file's edges."""
    hashes = {}
    for file in sorted(model.glob("*.safetensors")):
        digest = hashlib.sha256()
        with file.open("rb") as handle:
            while chunk := handle.read(1 << 24):
                digest.update(chunk)
        hashes[file.name] = digest.hexdigest()
    if not hashes:
        raise SystemExit(f"keep_samples: {model} has no .safetensors weights")
    return hashes


def save(model: Path, prefix: Path, cache: Path) -> None:
    stamp = folder_hash(model)
    db = sqlite3.connect(f"file:{cache}?mode=ro", uri=True)
    rows = db.execute("SELECT key, model, text, n_tokens, finish_reason FROM responses WHERE model LIKE ?",
                      (f"%{model.name}@{stamp}%",)).fetchall()
    db.close()
    prefix.parent.mkdir(parents=True, exist_ok=True)
    record = {"folder_hash": stamp, "weights_sha256": weight_hashes(model),
              "training_log": (model / LOG).read_text()}  # as written: the fingerprint hashes its bytes
    Path(f"{prefix}.json").write_text(json.dumps(record, indent=1) + "\n")
    with gzip.open(f"{prefix}.jsonl.gz", "wt", compresslevel=9) as sink:
        for key, name, text, n_tokens, finish in rows:
            sink.write(json.dumps({"key": key, "model": name, "text": text, "n_tokens": n_tokens,
                                   "finish_reason": finish}, ensure_ascii=False) + "\n")
    print(f"keep_samples: kept {len(rows)} cached answers of {model.name}@{stamp}")


def restore(model: Path, prefix: Path, cache: Path) -> None:
    if not Path(f"{prefix}.json").exists():
        print(f"keep_samples: nothing kept at {prefix}.json")
        return
    record = json.loads(Path(f"{prefix}.json").read_text())
    if weight_hashes(model) != record["weights_sha256"]:
        print(f"keep_samples: {model} differs from the kept model's weights; its kept answers are not used")
        return
    if folder_hash(model) != record["folder_hash"]:
        (model / LOG).write_text(record["training_log"])
    if folder_hash(model) != record["folder_hash"]:
        raise SystemExit(f"keep_samples: {model}'s weights are identical but its fingerprint is not; nothing restored")
    with gzip.open(f"{prefix}.jsonl.gz", "rt") as source:
        rows = [json.loads(line) for line in source]
    store = ResponseCache(cache)
    by_model: dict[str, list] = {}
    for r in rows:
        by_model.setdefault(r["model"], []).append((r["key"], r["text"], r["n_tokens"], r["finish_reason"]))
    for name, items in by_model.items():
        store.put_many(name, items)
    store.close()
    print(f"keep_samples: {model} is the kept model bit for bit; {len(rows)} cached answers restored")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["save", "restore"])
    parser.add_argument("model", type=Path)
    parser.add_argument("prefix", type=Path)
    parser.add_argument("--cache", type=Path, default=default_cache_path())
    args = parser.parse_args()
    if not args.model.is_dir():
        raise SystemExit(f"keep_samples: {args.model} is not a model folder")
    (save if args.action == "save" else restore)(args.model, args.prefix, args.cache)


if __name__ == "__main__":
    main()
