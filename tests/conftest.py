"""Shared fixtures: a tiny real Llama model (≈100K parameters) with a tokenizer trained in-process.

Whole pipelines run on it in seconds on a CPU, with no network. Its outputs are gibberish, so
tests about *answers* use scripted students; tests about *generation mechanics* use this model.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from w2s.tiny import CHAT_TEMPLATE, CORPUS, build_tiny_model  # noqa: F401 - tests import them from here


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def varied_model(tmp_path_factory) -> Path:
    """The tiny model with large random weights: its greedy answers differ token by token."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama-varied"), init_std=0.5)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Every test gets its own W2S_HOME (cache, converted models) and never touches the hub."""
    monkeypatch.setenv("W2S_HOME", str(tmp_path / "w2s-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    return tmp_path / "w2s-home"


@pytest.fixture
def gsm_file(tmp_path) -> Path:
    """A small GSM8K-format JSONL file (train format: solution ending '#### N')."""
    rows = [{"id": f"q{i}", "question": f"What is {i} plus {i}?", "answer": f"{i} + {i} = {2 * i}\n#### {2 * i}"}
            for i in range(1, 13)]
    path = tmp_path / "gsm.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data_or_skip() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data folder {SHARED_DATA} is absent")
    return SHARED_DATA


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def kill_training_at_step(monkeypatch, step: int, error: type[BaseException]) -> None:
    """Make a transformers trainer die inside optimizer step `step` (1-based), as a killed process would."""
    import transformers

    original = transformers.Trainer.training_step
    calls = {"n": 0}

    def dying(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == step:
            raise error
        return original(self, *args, **kwargs)

    monkeypatch.setattr(transformers.Trainer, "training_step", dying)


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie, exited but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def stand_in_executable(folder: Path, name: str, script: Path) -> Path:
    """An executable `folder/name` that runs the Python `script` (a stand-in for a server binary)."""
    wrapper = folder / name
    wrapper.write_text(f"#!{sys.executable}\nimport runpy\nrunpy.run_path({str(script)!r}, run_name='__main__')\n")
    wrapper.chmod(0o755)
    return wrapper
