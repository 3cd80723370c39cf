"""A lazy registry: names mapped to "module:attr" strings, imported only when asked for.

Student backends (`w2s.students.BACKENDS`) and tasks (`w2s.tasks.TASKS`) both live in one, as in
lm-evaluation-harness: naming `student.backend: llamacpp` imports its module, and nothing else does. A user's
own entry is a "module:attr" string or the object itself (`register_backend`, `register_task`).
"""

from __future__ import annotations

import importlib
from typing import Any

from w2s.errors import W2SError


class LazyRegistry(dict):
    """A dict of name -> "module:attr" (or the object itself) whose `load` imports on first use."""

    def __init__(self, kind: str, entries: dict[str, Any]) -> None:
        super().__init__(entries)
        self.kind = kind  # what an entry is, for error messages ("student backend", "task")

    def register(self, name: str, target: Any) -> None:
        """Add or replace an entry: a "module:attr" string (imported lazily) or the object itself."""
        if isinstance(target, str) and ":" not in target:
            raise ValueError(f"{self.kind} target must be 'module:attr' or the object itself, got '{target}'")
        self[name] = target

    def load(self, name: str) -> Any:
        """The entry's object, importing its module the first time; unknown names list the known ones."""
        if name not in self:
            raise W2SError(f"unknown {self.kind} '{name}' (expected one of: {', '.join(self)})")
        target = self[name]
        if not isinstance(target, str):
            return target
        module, attr = target.split(":", 1)
        return getattr(importlib.import_module(module), attr)
