"""`finetune` checkpoints as it trains, and a killed training resumes where it stopped and ends
with the weights an unbroken one has (TRL SFT with LoRA on the tiny model)."""

import pytest
import torch
from conftest import kill_training_at_step
from safetensors.torch import load_file

from w2s.training import FinetuneConfig, finetune, sft_row


class Killed(Exception):
    pass


def rows(n: int = 8) -> list[dict]:
    return [sft_row([{"role": "user", "content": f"What is {i} plus {i}?"}], f"The answer is {2 * i}.")
            for i in range(n)]


def weights(folder) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def kill_at_step(monkeypatch, step: int) -> None:
    kill_training_at_step(monkeypatch, step, Killed)


def test_a_killed_finetune_resumes_from_its_last_checkpoint_and_ends_like_an_unbroken_one(
        tiny_model, tmp_path, monkeypatch, capsys):
    config = FinetuneConfig(epochs=2, batch_size=2, max_length=64, save_steps=2)  # 8 steps, checkpoint every 2
    unbroken = finetune("sft", str(tiny_model), rows(), tmp_path / "unbroken", config)

    with monkeypatch.context() as patch:
        kill_at_step(patch, 6)  # dies in step 6 (of epoch 2), after the checkpoint of step 4
        with pytest.raises(Killed):
            finetune("sft", str(tiny_model), rows(), tmp_path / "killed", config)
    assert not (tmp_path / "killed").exists()  # no half-trained model that looks finished
    capsys.readouterr()

    resumed = finetune("sft", str(tiny_model), rows(), tmp_path / "killed", config)
    assert "resuming killed from checkpoint-4" in capsys.readouterr().out
    a, b = weights(unbroken), weights(resumed)
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=0, atol=1e-6)
    assert not (tmp_path / "killed.partial").exists()


def test_checkpointing_changes_no_weight(tiny_model, tmp_path):
    plain = finetune("sft", str(tiny_model), rows(), tmp_path / "plain", FinetuneConfig(
        epochs=1, batch_size=2, max_length=64, save_steps=0))
    saving = finetune("sft", str(tiny_model), rows(), tmp_path / "saving", FinetuneConfig(
        epochs=1, batch_size=2, max_length=64, save_steps=1))
    a, b = weights(plain), weights(saving)
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=0, atol=0)


def test_a_checkpoint_of_different_training_is_never_resumed(tiny_model, tmp_path, monkeypatch, capsys):
    config = FinetuneConfig(epochs=1, batch_size=2, max_length=64, save_steps=1)
    with monkeypatch.context() as patch:
        kill_at_step(patch, 3)
        with pytest.raises(Killed):
            finetune("sft", str(tiny_model), rows(), tmp_path / "model", config)
    capsys.readouterr()
    finetune("sft", str(tiny_model), rows(6), tmp_path / "model", config)  # other rows: start afresh
    assert "resuming" not in capsys.readouterr().out


def chosen_logprob(model_folder, pairs: list[dict]) -> float:
    """Mean log-probability of the chosen answers under a saved model, by the students' one scoring path."""
    from w2s.students.hf import HFStudent

    scores = HFStudent(str(model_folder), batch_size=8).score(
        [p["prompt"] for p in pairs], [p["chosen"][0]["content"] for p in pairs], progress=False)
    return sum(s.logprob for s in scores) / len(scores)


def test_an_nll_term_keeps_dpo_from_lowering_the_chosen_answers_likelihood(tiny_model, tmp_path):
    from w2s.training import preference_row

    # chosen and rejected share all but the last number, as a majority answer and a weak answer do
    pairs = [preference_row([{"role": "user", "content": f"What is {i} plus {i}?"}],
                            f"The answer is {2 * i}.", f"The answer is {2 * i + 1}.") for i in range(8)]
    settings = dict(epochs=4, batch_size=2, max_length=64, learning_rate=5e-3, save_steps=0)
    plain = finetune("dpo", str(tiny_model), pairs, tmp_path / "dpo", FinetuneConfig(**settings))
    rpo = finetune("dpo", str(tiny_model), pairs, tmp_path / "rpo", FinetuneConfig(**settings, sft_weight=1.0))
    before, after_plain, after_rpo = (chosen_logprob(m, pairs) for m in (tiny_model, plain, rpo))
    assert after_rpo > after_plain + 0.5  # the NLL term holds the chosen answers up (measured: +1.6)
    assert after_rpo > before


def test_a_negative_nll_weight_is_refused_when_the_config_is_read():
    from w2s.config import build
    from w2s.errors import W2SError
    from w2s.reason.pipeline import ReasonConfig

    with pytest.raises(W2SError, match=r"^run.yaml: 'preference_training.sft_weight' = -1.0 \(expected >= 0\)$"):
        build(ReasonConfig, {"preference_training": {"sft_weight": -1}}, "run.yaml")
