"""The model interface (`LM`, also called `Student`): one `generate`/`score` API for every model
w2s uses (student, teacher, judge, weak model), several backends imported lazily by name."""

from __future__ import annotations

from dataclasses import fields

from w2s.cache import ResponseCache
from w2s.errors import W2SError
from w2s.students.base import (
    BACKENDS,
    Budget,
    BudgetSpent,
    Completion,
    Price,
    Prompt,
    SamplingParams,
    Student,
    StudentConfig,
    backend_class,
    register_backend,
)

LM = Student  # every model (student, teacher, judge, weak model) is behind this one interface

_COMMON = ("model", "backend", "extra", "budget", "price")  # read by every backend (base class)


def make_student(config: StudentConfig, cache: ResponseCache | None = None) -> Student:
    """Build the configured backend; heavy libraries are imported only for the one asked for."""
    cls = backend_class(config.backend)
    defaults = StudentConfig()
    ignored = [f.name for f in fields(StudentConfig) if f.name not in _COMMON and f.name not in cls.options
               and getattr(config, f.name) != getattr(defaults, f.name)]
    if ignored:
        print(f"note: student.{', student.'.join(ignored)} not used by backend '{config.backend}' "
              f"(its options: {', '.join(cls.options) or 'none'})")
    try:
        student = cls.from_config(config, cache)
    except TypeError as err:  # an unknown student.extra key reaches the backend's constructor
        if "unexpected keyword argument" not in str(err):
            raise
        name = str(err).split("argument", 1)[1].strip(" '\"")
        raise W2SError(f"student.extra.{name}: not an option of backend '{config.backend}'") from None
    student.budget, student.price = config.budget, config.price
    return student


__all__ = ["BACKENDS", "LM", "Budget", "BudgetSpent", "Completion", "Price", "Prompt", "SamplingParams", "Student",
           "StudentConfig", "make_student", "register_backend"]
