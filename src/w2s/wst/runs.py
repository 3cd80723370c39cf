"""A trained teacher's run folder: where its final teacher is, what it was trained on, what it cost.

Read by evaluation, serving, sharing and the static baselines; none of them needs the teacher's
model for these facts.
"""

from __future__ import annotations

import json
from pathlib import Path


def teacher_folder(name: str | Path) -> Path:
    """A trained run's folder stands for its final teacher (`RUN_DIR` means `RUN_DIR/final`)."""
    folder = Path(name)
    return folder / "final" if (folder / "final").is_dir() else folder


def trained_run_config(teacher: str | Path) -> dict | None:
    """A trained teacher's run config (`config.json` written by `w2s wst train`, or
    `run_config.json` beside a committed teacher); None when there is none."""
    folder = teacher_folder(teacher)
    for candidate in (folder / "config.json", folder / "run_config.json", folder.parent / "config.json",
                      folder.parent / "run_config.json"):
        try:
            found = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(found, dict) and isinstance(found.get("task"), str) and found["task"]:
            return found
    return None


def trained_task(teacher: str | Path) -> str | None:
    """The task a trained teacher was trained on (from its run config); None when unknown."""
    found = trained_run_config(teacher)
    return found["task"] if found else None


def training_student_calls(run_config: dict) -> int:
    """How many student answers a teacher's training asked for: per step, each question's
    instructed answers (num_generations x k) and its answer without an instruction (k, the first
    time a question is seen; the training questions are seen once when steps x questions_per_step
    does not exceed the training set). What a static instruction may spend to be comparable."""
    k = run_config.get("reward", {}).get("student_samples", 1)
    per_question = (run_config["num_generations"] + 1) * k
    return run_config["steps"] * run_config["questions_per_step"] * per_question
