"""The model interface (`LM`, also called `Student`): one `generate`/`score` API for every model
w2s uses (student, teacher, judge, weak model), several backends imported lazily by name."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from w2s.cache import ResponseCache
from w2s.config import check_ranges, setting
from w2s.errors import W2SError
from w2s.registry import LazyRegistry
from w2s.students.base import (
    Budget,
    BudgetSpent,
    Completion,
    Price,
    Prompt,
    SamplingParams,
    Student,
    check_base_url,
)


@dataclass
class StudentConfig:
    """Which model answers, through which backend, with what batching/concurrency."""

    model: str = setting("qwen2.5-0.5b-instruct", help="offline pack name, local folder, .gguf file or hub id")
    backend: str = setting("hf", help=lambda: backends_help() + ", or one added with register_backend")
    batch_size: int = setting(16, low=1, help="hf: sequences per generate() call (static batching)")
    batching: Literal["static", "continuous"] = setting(
        "static", help="hf: continuous suits long, varied greedy answers (see students/hf.py)")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = setting(
        "auto", help="hf/vllm-server: auto = float32 on CPU, bfloat16 (vLLM's choice) on GPU")
    device: str = setting("auto", help="hf: auto = cuda if available else cpu")
    base_url: str | None = setting(None, help="openai: e.g. http://localhost:8000/v1")
    api_key_env: str = setting("OPENAI_API_KEY", help="openai: the NAME of the variable holding the key")
    concurrency: int = setting(32, low=1, help="openai: requests in flight")
    max_retries: int = setting(6, low=0, high=100, help="openai: attempts after the first")
    timeout_s: float | None = setting(None, above=0, high=86400,
                                      help="openai-protocol backends: seconds per request; None = the "
                                           "backend's own (120 for a server elsewhere, 3600 for one w2s "
                                           "starts here: long answers queue for a slow CPU, and its death is"
                                           " detected anyway)")
    budget: Budget | None = setting(None, help="every backend: stop cleanly after this many calls or tokens")
    price: Price | None = setting(None, help="every backend: per million tokens, to report a cost")
    extra: dict = setting(default_factory=dict, help="backend-specific options (e.g. vllm-server's max_model_len); "
                                                     "an unknown one is refused")

    def __post_init__(self) -> None:
        """Refuse impossible settings in one line, before any model loads or request is sent."""
        check_ranges(self)
        if self.backend == "vllm" and "vllm" not in BACKENDS:  # configs written before it moved out of process
            raise ValueError("student.backend: 'vllm' (in process) was replaced by 'vllm-server': vLLM runs in a venv "
                             "of its own (`w2s engines install vllm`); or use 'openai' with your vLLM server's URL")
        checks = [
            (self.backend in BACKENDS, f"student.backend: expected one of {', '.join(BACKENDS)}, got '{self.backend}'"),
            (self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"),
             f"student.device: expected auto, cpu, cuda or cuda:N, got '{self.device}'"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        if self.base_url:
            check_base_url(self.base_url)


# name -> "module:Class"; a backend's module is imported only when a config names it.
BACKENDS = LazyRegistry("student backend", {
    "hf": "w2s.students.hf:HFStudent",
    "openai": "w2s.students.openai_compat:OpenAIStudent",
    "scripted": "w2s.students.scripted:ScriptedStudent",
    "llamacpp": "w2s.students.llamacpp:LlamaCppStudent",
    "vllm-server": "w2s.students.vllm_server:VLLMServerStudent",
})


def register_backend(name: str, target: str | type[Student]) -> None:
    """Make `student.backend: name` build the Student subclass at "module:Class" (imported lazily)."""
    BACKENDS.register(name, target)


def backend_class(name: str) -> type[Student]:
    return BACKENDS.load(name)


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


def backends_help() -> str:
    """The backends a `backend` setting accepts, from the registry (help never drifts)."""
    return f"the backend: {' | '.join(BACKENDS)}"
