"""Real implementations of the Student interface whose answers are a known function of the prompt.

Used only in tests, where a model's answers must be controlled to check what is built on them.
They go through the same base class (cache, dedup, stats) as every backend.
"""

from __future__ import annotations

from collections.abc import Callable

from w2s.students.base import Completion, OnResult, Prompt, Request, SamplingParams, Student, TargetScore


def last_user_text(prompt) -> str:
    return prompt if isinstance(prompt, str) else prompt[-1]["content"]


class ScriptedStudent(Student):
    """Answers `respond(prompt_text, sample_index)`; counts calls so tests can check caching.

    With `logprob(prompt_text, target) -> (sum of log-probabilities, n tokens)` it can also score
    text, like a local model; without it, scoring is refused as for a remote API.
    """

    def __init__(self, respond: Callable[[str, int], str], name: str = "scripted", cache=None,
                 logprob: Callable[[str, str], tuple[float, int]] | None = None) -> None:
        super().__init__(cache)
        self.respond, self.logprob = respond, logprob
        self.scored_pairs = 0
        self.name = name
        self.fingerprint = f"{name}@test"
        self.calls = 0
        self.prompts: list = []  # every prompt generated for, as given (chat messages or text)

    def _generate(self, requests: list[Request], params: SamplingParams, on_result: OnResult) -> None:
        for i, request in enumerate(requests):
            self.calls += 1
            self.prompts.append(request.prompt)
            full = _text(request.prompt)
            text = self.respond(full, request.index)
            on_result(i, Completion(text, len(text.split())))

    def _score(self, pairs: list[tuple[Prompt, str]], advance) -> list[TargetScore]:
        if self.logprob is None:
            return super()._score(pairs, advance)
        self.scored_pairs += len(pairs)
        return [TargetScore(*self.logprob(_text(prompt), target)) for prompt, target in pairs]


def _text(prompt) -> str:
    return prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)
