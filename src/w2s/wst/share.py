"""`w2s wst push`: a trained teacher on the Hugging Face hub, as `Teacher.load` will want it.

What makes a teacher is a few files of its run: the adapter (or full weights) and tokenizer of
`final/`, its instruction protocol (template, placement, limits, and the student's answer budget
it was trained for) and its run card, plus the run's config (the task, for `w2s wst eval`), with
this machine's paths removed. Checkpoints, the response cache, metrics and logs never go, nor
anything written with a key: the staged folder is checked for every key in play before upload.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from w2s.errors import W2SError, redact_data
from w2s.jsonl import write_json
from w2s.wst.protocol import PROTOCOL_FILE
from w2s.wst.runs import teacher_folder, trained_run_config

# final/'s files a teacher loads from: weights (LoRA or full), their configs, the tokenizer
WEIGHTS = ("adapter_model.safetensors", "adapter_config.json", "model.safetensors", "config.json",
           "generation_config.json")
TOKENIZER = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
             "vocab.json", "merges.txt", "tokenizer.model")
LOCAL_KEYS = ("output", "cache", "data")  # this machine's paths, not the teacher's


def stage_teacher(run: str | Path, folder: str | Path) -> Path:
    """Copy exactly what a teacher is into `folder` (made fresh); refuse a run that is not a teacher."""
    final, folder = teacher_folder(run), Path(folder)
    if not (final / PROTOCOL_FILE).is_file() or not any((final / f).is_file() for f in WEIGHTS[:4:2]):
        raise W2SError(f"{run}: not a trained teacher (no weights and {PROTOCOL_FILE} in it or its final/)")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for name in (*WEIGHTS, *TOKENIZER, PROTOCOL_FILE, "README.md"):
        if (final / name).is_file():
            shutil.copy2(final / name, folder / name)
    config = trained_run_config(run)
    if config is not None:
        write_json(folder / "run_config.json", {k: (None if k in LOCAL_KEYS else v) for k, v in config.items()})
    _check_no_key(folder)
    return folder


def _check_no_key(folder: Path) -> None:
    """Refuse to upload a text file that holds a key in play (or anything shaped like an API key)."""
    for path in folder.iterdir():
        if path.suffix in (".json", ".md", ".jinja", ".txt"):
            text = path.read_text(encoding="utf-8", errors="replace")
            if redact_data(text) != text:
                raise W2SError(f"{path.name} of the teacher holds what looks like a key; nothing was uploaded")


def push_teacher(run: str | Path, repo_id: str, private: bool = False, staging: str | Path | None = None) -> str:
    """Upload the staged teacher to the hub repo `repo_id`; its URL. One line without a token or network."""
    import tempfile

    from huggingface_hub import HfApi

    with tempfile.TemporaryDirectory() as tmp:
        folder = stage_teacher(run, staging or Path(tmp) / "teacher")
        api = HfApi()
        try:
            api.create_repo(repo_id, private=private, exist_ok=True)
            info = api.upload_folder(folder_path=str(folder), repo_id=repo_id,
                                     commit_message="w2s: a trained WST teacher")
        except Exception as err:  # noqa: BLE001 - no token, no network, no permission: one line each
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise W2SError(f"could not push to the hub repo {repo_id} ({type(err).__name__}: {reason[:200]}); "
                           "log in with `hf auth login` (or set HF_TOKEN) and check the network") from None
    return getattr(info, "commit_url", None) or f"https://huggingface.co/{repo_id}"


def describe(folder: Path) -> str:
    """The staged files, one line: what a push sends."""
    sizes = {p.name: p.stat().st_size for p in sorted(folder.iterdir())}
    return ", ".join(f"{name} ({size / 1e6:.1f} MB)" if size > 1e5 else name for name, size in sizes.items()) + (
        f"; student budget {json.loads((folder / PROTOCOL_FILE).read_text()).get('student_max_tokens')} tokens")
