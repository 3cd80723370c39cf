"""Every trainer sends its curves where `report_to` says, as transformers defines it: TensorBoard by
default, into the run's own folder (never ./runs of wherever w2s was started), trackio offline;
the values logged are the trainer's own, read back from each tracker's files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from w2s.training import FinetuneConfig, finetune, sft_row

ROWS = [sft_row([{"role": "user", "content": f"What is {i} plus {i}?"}], f"The answer is {2 * i}.") for i in range(8)]


def logged_losses(out: Path) -> list[float]:
    return [row["loss"] for row in json.loads((out / "training_log.json").read_text())["log"] if "loss" in row]


def test_tensorboard_gets_the_losses_in_the_run_folder(tiny_model, tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.chdir(tmp_path)  # where transformers would otherwise put ./runs
    out = finetune("sft", str(tiny_model), ROWS, tmp_path / "run" / "models" / "m",
                   FinetuneConfig(epochs=1, batch_size=2, max_length=64))
    logs = tmp_path / "run" / "models" / "logs" / "m"
    events = EventAccumulator(str(logs))
    events.Reload()
    values = [e.value for e in events.Scalars("train/loss")]
    assert values == pytest.approx(logged_losses(out), rel=1e-5) and len(values) == 4
    assert not (tmp_path / "runs").exists()
    # w2s's own settings go with the model's config, and no saved model keeps them
    from tensorboard.backend.event_processing.event_accumulator import TENSORS

    texts = EventAccumulator(str(logs), size_guidance={TENSORS: 0})
    texts.Reload()
    model_config = texts.Tensors("model_config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert '"method": "sft"' in model_config and '"lora_r": 16' in model_config
    assert "w2s" not in json.loads((out / "config.json").read_text())


def test_trackio_offline_gets_the_same_losses(tiny_model, tmp_path):
    pytest.importorskip("trackio")
    code = (f"from w2s.training import FinetuneConfig, finetune, sft_row\n"
            f"import json; rows = [sft_row([{{'role': 'user', 'content': f'What is {{i}} plus {{i}}?'}}], "
            f"f'The answer is {{2 * i}}.') for i in range(8)]\n"
            f"finetune('sft', {str(tiny_model)!r}, rows, {str(tmp_path / 'm')!r}, "
            f"FinetuneConfig(epochs=1, batch_size=2, max_length=64, report_to=['trackio']))\n")
    env = {**os.environ, "TRACKIO_DIR": str(tmp_path / "trackio"),
           "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    reader = ("import json, trackio.sqlite_storage as s\n"
              "logs = s.SQLiteStorage.get_logs('w2s', 'm')\n"
              "print(json.dumps([row['train/loss'] for row in logs if 'train/loss' in row]))\n")
    read = subprocess.run([sys.executable, "-c", reader], env=env, capture_output=True, text=True, timeout=120)
    assert read.returncode == 0, read.stderr[-2000:]
    assert json.loads(read.stdout.strip().splitlines()[-1]) == pytest.approx(logged_losses(tmp_path / "m"), rel=1e-5)


def test_wst_training_sends_its_own_step_columns_to_the_tracker(tiny_model, gsm_file, tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from test_wst_train import config, student

    from w2s.wst.train import train_teacher

    monkeypatch.chdir(tmp_path)
    out = train_teacher(config(tiny_model, gsm_file, tmp_path, steps=2), student=student())
    events = EventAccumulator(str(out / "runs"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {"train/time/step_s", "train/student_retries", "train/helped"} <= tags
    assert [e.value for e in events.Scalars("train/time/step_s")] == pytest.approx([r["time/step_s"] for r in rows])
    assert not (tmp_path / "runs").exists()
