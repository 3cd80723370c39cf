"""w2s: weak-to-strong knowledge transfer between language models.

The public API, imported lazily (`import w2s` loads no torch; each name imports its module on
first use):

    from w2s import Teacher
    teacher = Teacher.load("results/wst_organism_teacher")
    print(teacher.instruct(["State the final answer to the following arithmetic problem: 12 + 7 - 3 ="]))

- `Teacher`, `Instruction`, `InstructionProtocol`: a teacher and how it is asked (`w2s.wst.teacher`).
- `LM` (alias `Student`), `SamplingParams`, `load_lm`, `register_backend`: the one model interface.
- `evaluate`, `train_teacher`, `optimize_instruction`, `run_reasoning`: the commands `w2s wst eval`,
  `w2s wst train`, `w2s wst optimize` and `w2s reason run` as functions (`w2s.api`).
- `get_task`, `register_task`, `Task`, `Example`: tasks and their graders.

docs/python-api.md shows each with a runnable snippet.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Teacher": "w2s.wst.teacher",
    "Instruction": "w2s.wst.teacher",
    "InstructionProtocol": "w2s.wst.protocol",
    "LM": "w2s.students",
    "Student": "w2s.students",
    "SamplingParams": "w2s.students",
    "register_backend": "w2s.students",
    "load_lm": "w2s.api",
    "evaluate": "w2s.api",
    "train_teacher": "w2s.api",
    "optimize_instruction": "w2s.api",
    "run_reasoning": "w2s.api",
    "get_task": "w2s.tasks",
    "register_task": "w2s.tasks",
    "Task": "w2s.tasks",
    "Example": "w2s.tasks",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'w2s' has no attribute '{name}'")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
