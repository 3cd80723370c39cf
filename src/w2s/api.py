"""The Python API: the commands' work as functions, with the commands' settings as keyword arguments.

Each function takes what its command takes: a config (a YAML path or the config object) and/or
settings as keyword arguments, dotted keys included (`**{"student.dtype": "float32"}`) or nested
as dicts (`student={"dtype": "float32"}`). Settings are checked exactly as on the command line
(one line naming the key and what was expected) before any model loads.

    import w2s

    lm = w2s.load_lm("qwen2.5-0.5b-instruct")                       # the one model interface
    summary = w2s.evaluate(teacher="results/wst_organism_teacher",
                           task="rg:chain_sum?min_terms=3&max_terms=4&max_digits=2", limit=40)
    run = w2s.train_teacher("configs/wst/organism_chain_sum.yaml", steps=2, output="runs/wst/try")
    metrics = w2s.run_reasoning("configs/reason/organism.yaml", until="stage1-filter")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from w2s.config import aliases, layered

T = TypeVar("T")


def configure(cls: type[T], config: str | Path | T | None = None, **settings: Any) -> T:
    """A validated `cls` from a YAML file or a config object, then `settings` on top (last wins):
    `w2s.config.layered`, as the command line makes its configs."""
    renamed = aliases(cls)  # a field's flag name is a keyword too (teacher= for trained_teacher)
    flat: dict[str, Any] = {}
    for key, value in ((renamed.get(k, k), v) for k, v in settings.items()):  # a dict merges into its section
        flat.update(_flatten(value, key) if isinstance(value, dict) and value else [(key, value)])
    source = str(config) if isinstance(config, str | Path) else "config" if config is not None else "settings"
    return layered(cls, config, flat, source=source)


def load_lm(model: str, cache: str | Path | None = None, **options: Any):
    """A model behind the one interface (`w2s.LM`): `load_lm("qwen2.5-0.5b-instruct")`, or any
    backend with its options, e.g. `load_lm("NAME", backend="openai", base_url=URL)`.

    `generate(prompts, SamplingParams(...), k)` and `score(prompts, targets)` then work alike for
    every backend; answers are cached in `cache` (default: the user's response cache).
    """
    from w2s.cache import ResponseCache
    from w2s.paths import default_cache_path
    from w2s.students import StudentConfig, make_student

    config = configure(StudentConfig, model=model, **options)
    return make_student(config, ResponseCache(cache or default_cache_path()))


def evaluate(config: Any = None, **settings: Any) -> dict:
    """`w2s wst eval`: the same held-out questions under every instruction condition; the summary dict
    (conditions with accuracy, intervals, McNemar tests, costs), also written to `output`."""
    from w2s.wst.evaluate import WSTEvalConfig, run_wst_eval

    return run_wst_eval(configure(WSTEvalConfig, config, **settings))


def train_teacher(config: Any = None, resume: bool = False, **settings: Any) -> Path:
    """`w2s wst train`: GRPO on the teacher against the student's outcomes; returns the run folder
    (its `final/` is a teacher `Teacher.load` takes)."""
    from w2s.wst.train import WSTTrainConfig
    from w2s.wst.train import train_teacher as train

    return train(configure(WSTTrainConfig, config, **settings), resume=resume)


def optimize_instruction(config: Any = None, **settings: Any) -> dict:
    """`w2s wst optimize`: one instruction for every question, found by GEPA within a student-answer
    budget (`budget_calls`, or `budget_from_teacher=RUN`); returns what it wrote to `output`
    (the instruction, its validation score, what finding it cost)."""
    from w2s.wst.optimize import OptimizeConfig
    from w2s.wst.optimize import optimize_instruction as optimize

    return optimize(configure(OptimizeConfig, config, **settings))


def run_reasoning(config: Any = None, until: str | None = None, only: str | None = None, **settings: Any) -> dict:
    """`w2s reason run`: progressive weak-to-strong reasoning, every unfinished step up to `until`
    (or `only` one step); returns the run's metrics (`metrics.json`) once `evaluate` has run, else {}."""
    import json

    from w2s.reason.pipeline import ReasonConfig, run_steps

    run = run_steps(configure(ReasonConfig, config, **settings), only=only, until=until)
    metrics = run.path / "metrics.json"
    return json.loads(metrics.read_text()) if metrics.is_file() else {}


def _flatten(value: dict, prefix: str):
    for key, sub in value.items():
        if isinstance(sub, dict) and sub:
            yield from _flatten(sub, f"{prefix}.{key}")
        else:
            yield f"{prefix}.{key}", sub
