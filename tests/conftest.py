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

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
CORPUS = [
    "Janet has 3 apples and buys 4 more. How many apples does she have? The answer is 7.",
    "A train travels 60 miles per hour for 2 hours. It travels 120 miles. #### 120",
    "Let's think step by step. First add the numbers, then multiply by two.",
    "Please reason step by step, and put your final answer within \\boxed{}.",
    "The teacher writes an instruction; the student answers the question with it.",
    "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 100 1000 $ % , . ? !",
]


def build_tiny_model(folder: Path, arch: str = "llama", seed: int = 0, init_std: float = 0.02, **sizes) -> Path:
    """Train a BPE tokenizer on a toy corpus and save a randomly initialised tiny causal LM.

    At the default init its greedy output repeats one token; `init_std` near 1 gives answers
    that differ between prompts (tests of where answers stop need that). `sizes` override the
    model config's sizes (a real engine's kernels need a head size of 32 or more).
    """
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import (
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedTokenizerFast,
        Qwen2Config,
        Qwen2ForCausalLM,
    )

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    specials = ["<unk>", "<s>", "</s>", "<pad>", "<|user|>", "<|assistant|>", "<|system|>"]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(CORPUS * 20, trainer)
    from tokenizers import decoders

    tokenizer.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", pad_token="<pad>")
    fast.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    common = dict(vocab_size=fast.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                  bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                  pad_token_id=fast.pad_token_id, tie_word_embeddings=True, initializer_range=init_std)
    common.update(sizes)
    if arch == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**common))
    else:
        model = LlamaForCausalLM(LlamaConfig(**common))
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


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
