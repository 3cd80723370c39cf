"""`--plan`: what a `w2s wst train` or `w2s wst eval` will ask of the student, before it runs.

A user who puts a paid API model in the loop sets `student.budget` by guessing unless told what
the run asks for. The plan counts, from the config alone and without loading a model: the student
calls the run makes at most, the completion tokens at most (calls x the answer budget), how many
of the calls whose prompts are known before any teacher writes (no instruction, static lines) the
response cache already holds, and with `student.price` the most the completions can cost (prompt
tokens come on top; they depend on the tokenizer). A fresh run on an empty cache makes exactly the
planned calls.
"""

from __future__ import annotations

from dataclasses import replace

from w2s.cache import ResponseCache
from w2s.paths import default_cache_path
from w2s.students import SamplingParams, StudentConfig, backend_class
from w2s.students.base import request_key
from w2s.tasks import get_task
from w2s.wst.runs import trained_task, training_student_calls


def _cached(config: StudentConfig, cache_path, prompts: list, params: SamplingParams, k: int = 1) -> int | None:
    """How many of the k answers to each of `prompts` the cache holds for this student; None when
    its fingerprint needs the model."""
    fingerprint = backend_class(config.backend).fingerprint_for(config)
    if fingerprint is None or not prompts:
        return None if fingerprint is None else 0
    keys = {request_key(fingerprint, p, params, j) for p in prompts for j in range(k)}
    return len(ResponseCache(cache_path).get_many(keys))


def eval_plan(config) -> dict:
    """The student calls of a `w2s wst eval` with this config (a WSTEvalConfig), at most."""
    from w2s.wst.evaluate import eval_protocol, fixed_conditions, teacher_names

    task = get_task(config.task or (trained_task(config.trained_teacher) if config.trained_teacher else None)
                    or "gsm8k")
    examples = task.load(config.split, config.data, config.limit, config.seed, offset=config.offset)
    protocol, _, budget, _ = eval_protocol(config)
    bare = replace(protocol, base_instruction=None)
    fixed = fixed_conditions(config, protocol)
    teachers = teacher_names(config)
    static = config.static
    candidates = (bool(config.generic_instruction) + len(static.candidates or []) + static.from_untrained
                  + bool(static.optimized)) if static.active else 0
    picked = int(static.active) + int(bool(static.optimized))  # best static and the optimizer's line on test
    n = len(examples)
    calls = n * (len(fixed) + len(teachers) + picked) + candidates * static.questions
    params = SamplingParams(max_tokens=budget)
    prompts = [(protocol if name == "base instruction" else bare).student_prompt(task, e.question, text)
               for name, text in fixed.items() for e in examples]
    teacher_calls = n * (len(teachers) - ("self-instruction" in teachers)) + static.from_untrained
    return _plan(config.student, config.cache, calls, budget, prompts, params, {
        "questions": n, "conditions": [*fixed, *teachers, *(["static picks"] if picked else [])],
        "static_candidates": candidates, "teacher_calls_at_most": teacher_calls})


def train_plan(config) -> dict:
    """The student calls of a `w2s wst train` with this config (a WSTTrainConfig), at most: each
    step's instructed answers and, the first time a question is seen, its answer without one."""
    from w2s.config import to_dict
    from w2s.wst.train import training_examples

    examples = training_examples(config)
    k = config.reward.student_samples
    likelihood = config.reward.kind == "likelihood"  # scores the gold solution: no answer is generated
    calls = 0 if likelihood else training_student_calls(to_dict(config))
    params = SamplingParams(temperature=config.reward.student_temperature, max_tokens=config.student_max_tokens,
                            seed=config.seed)
    seen = examples[: config.steps * config.questions_per_step]
    baselines = [] if likelihood else [config.protocol.student_prompt(get_task(config.task), e.question, None)
                                       for e in seen]
    return _plan(config.student, config.cache, calls, config.student_max_tokens, baselines, params, {
        "steps": config.steps, "questions": len(seen), "instructions_per_question": config.num_generations,
        "answers_per_instruction": k, "scored_not_generated": likelihood}, k)


def _plan(student: StudentConfig, cache, calls: int, budget: int, known: list, params, facts: dict,
          k: int = 1) -> dict:
    cached = _cached(student, cache or default_cache_path(), known, params, k)
    plan = {"student": student.model, "backend": student.backend, "calls_at_most": calls,
            "completion_tokens_at_most": calls * budget, "known_prompts": len(known) * k, "known_prompts_cached": cached,
            **facts}
    if student.price is not None:
        plan["completion_cost_at_most"] = round(calls * budget * student.price.completion / 1e6, 6)
    return plan


def format_plan(plan: dict) -> str:
    cached = plan["known_prompts_cached"]
    lines = [f"plan for student {plan['student']} ({plan['backend']}): at most {plan['calls_at_most']:,} calls and "
             f"{plan['completion_tokens_at_most']:,} completion tokens (calls x the answer budget; prompt tokens "
             "come on top)",
             f"  the cache holds {cached} of the {plan['known_prompts']} calls whose prompts are known before any "
             "teacher writes" if cached is not None else
             "  what the cache holds is not counted: this backend's fingerprint needs its model loaded"]
    if "completion_cost_at_most" in plan:
        lines.append(f"  completions cost at most {plan['completion_cost_at_most']:.4f} (student.price)")
    lines.append("  " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in plan.items()
                                  if k not in ("student", "backend", "calls_at_most", "completion_tokens_at_most",
                                               "known_prompts", "known_prompts_cached", "completion_cost_at_most")))
    return "\n".join(lines)
