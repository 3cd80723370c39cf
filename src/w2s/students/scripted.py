"""A student whose answers are a known Python function of the prompt (`backend: scripted`).

For tests, documentation and dry runs of a pipeline: what every step must do with the answers is
then known exactly, and the answers still go through the base class (cache, dedup, stats) like
every backend's. A config names the script with `student.extra.script`: a name registered with
`register_script`, or "package.module:function". The script is called as
`script(model, prompt_text, sample_index) -> str`, where `model` is `student.model` (the reasoning
pipeline sets it to each stage's model, so one script can play every model). An optional
`student.extra.logprob` script, `(model, prompt_text, target) -> (sum of log-probabilities,
n tokens)`, lets the student score text like a local model; without it, scoring is refused as
for a remote API.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from w2s.errors import W2SError
from w2s.students.base import Completion, OnResult, Prompt, Request, SamplingParams, Student, TargetScore

SCRIPTS: dict[str, Callable] = {}


def register_script(name: str, script: Callable) -> None:
    """Make `student.extra.script: name` (or `logprob: name`) use `script`."""
    SCRIPTS[name] = script


def find_script(spec: str, option: str) -> Callable:
    if spec in SCRIPTS:
        return SCRIPTS[spec]
    module, _, attr = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError):
        raise W2SError(f"student.extra.{option}: '{spec}' is neither a registered script nor an importable "
                       "'package.module:function'") from None


class ScriptedStudent(Student):
    """Answers `respond(prompt_text, sample_index)`; counts calls so tests can check caching."""

    def __init__(self, respond: Callable[[str, int], str], name: str = "scripted", cache=None,
                 logprob: Callable[[str, str], tuple[float, int]] | None = None) -> None:
        super().__init__(cache)
        self.respond, self.logprob = respond, logprob
        self.scored_pairs = 0
        self.name = name
        self.fingerprint = f"scripted:{name}"
        self.calls = 0
        self.prompts: list = []  # every prompt generated for, as given (chat messages or text)

    @classmethod
    def fingerprint_for(cls, config) -> str | None:
        return f"scripted:{config.extra.get('script')}:{config.model}"

    @classmethod
    def from_config(cls, config, cache=None) -> ScriptedStudent:
        extra = dict(config.extra)
        if "script" not in extra:
            raise W2SError("backend 'scripted' needs student.extra.script (a registered name or "
                           "'package.module:function')")
        spec = extra.pop("script")
        logprob_spec = extra.pop("logprob", None)
        if extra:
            raise W2SError(f"student.extra.{next(iter(extra))}: not an option of backend 'scripted' "
                           "(its options: script, logprob)")
        script, model = find_script(spec, "script"), config.model
        score = find_script(logprob_spec, "logprob") if logprob_spec else None
        student = cls(lambda prompt, index: script(model, prompt, index), name=f"{spec}:{model}", cache=cache,
                      logprob=(lambda prompt, target: score(model, prompt, target)) if score else None)
        student.name = model
        return student

    def _generate(self, requests: list[Request], params: SamplingParams, on_result: OnResult) -> None:
        for i, request in enumerate(requests):
            if self.budget_spent():
                return
            self.calls += 1
            self.prompts.append(request.prompt)
            text = self.respond(prompt_text(request.prompt), request.index)
            on_result(i, Completion(text, len(text.split()), prompt_tokens=len(prompt_text(request.prompt).split())))

    def _score(self, pairs: list[tuple[Prompt, str]], advance) -> list[TargetScore]:
        if self.logprob is None:
            return super()._score(pairs, advance)
        self.scored_pairs += len(pairs)
        return [TargetScore(*self.logprob(prompt_text(prompt), target)) for prompt, target in pairs]


def prompt_text(prompt: Prompt) -> str:
    """The prompt as the script sees it: raw text, or the chat messages' contents one per line."""
    return prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)
