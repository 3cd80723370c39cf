"""Real implementations of the Student interface whose answers are a known function of the prompt.

Used only in tests, where a model's answers must be controlled to check what is built on them.
They go through the same base class (cache, dedup, stats) as every backend.
"""

from __future__ import annotations

from collections.abc import Callable

from w2s.students.base import Completion, OnResult, Request, SamplingParams, Student


def last_user_text(prompt) -> str:
    return prompt if isinstance(prompt, str) else prompt[-1]["content"]


class ScriptedStudent(Student):
    """Answers `respond(prompt_text, sample_index)`; counts calls so tests can check caching."""

    def __init__(self, respond: Callable[[str, int], str], name: str = "scripted", cache=None) -> None:
        super().__init__(cache)
        self.respond = respond
        self.name = name
        self.fingerprint = f"{name}@test"
        self.calls = 0

    def _generate(self, requests: list[Request], params: SamplingParams, on_result: OnResult) -> None:
        for i, request in enumerate(requests):
            self.calls += 1
            full = request.prompt if isinstance(request.prompt, str) else "\n".join(
                m["content"] for m in request.prompt)
            text = self.respond(full, request.index)
            on_result(i, Completion(text, len(text.split())))
