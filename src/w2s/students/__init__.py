"""Students: one interface (`Student.generate`), several backends, imported lazily by name."""

from __future__ import annotations

from w2s.cache import ResponseCache
from w2s.errors import W2SError
from w2s.students.base import BACKENDS, Completion, Prompt, SamplingParams, Student, StudentConfig


def make_student(config: StudentConfig, cache: ResponseCache | None = None) -> Student:
    """Build the configured backend; heavy libraries are imported only for the one asked for."""
    try:
        return _make(config, cache)
    except TypeError as err:  # an unknown student.extra key reaches the backend's constructor
        if "unexpected keyword argument" not in str(err):
            raise
        name = str(err).split("argument", 1)[1].strip(" '\"")
        raise W2SError(f"student.extra.{name}: not an option of backend '{config.backend}'") from None


def _make(config: StudentConfig, cache: ResponseCache | None) -> Student:
    if config.backend == "hf":
        from w2s.students.hf import HFStudent

        return HFStudent(config.model, batch_size=config.batch_size, batching=config.batching, dtype=config.dtype,
                         device=config.device, cache=cache, **config.extra)
    if config.backend == "openai":
        from w2s.students.openai_compat import OpenAIStudent

        return OpenAIStudent(config.model, config.base_url, api_key_env=config.api_key_env,
                             concurrency=config.concurrency, max_retries=config.max_retries,
                             timeout_s=config.timeout_s, cache=cache, **config.extra)
    if config.backend == "vllm":
        from w2s.students.vllm_backend import VLLMStudent

        return VLLMStudent(config.model, dtype=config.dtype, cache=cache, **config.extra)
    raise W2SError(f"unknown student backend '{config.backend}' (expected one of: {', '.join(BACKENDS)})")


__all__ = ["BACKENDS", "Completion", "Prompt", "SamplingParams", "Student", "StudentConfig", "make_student"]
