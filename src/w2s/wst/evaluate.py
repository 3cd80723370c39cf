"""`w2s wst eval`: does a teacher's instruction lift the student, against the natural baselines?

For the same held-out questions and the same student, compare:

- no instruction;
- a fixed generic instruction ("Let's think step by step.");
- the untrained teacher;
- a trained teacher checkpoint (a full model folder or a LoRA adapter folder);
- the student writing its own instruction with the teacher's template (the strong model as its
  own teacher);
- optionally, any teacher behind an OpenAI-compatible API (`api_teacher`), e.g. a stronger model.

Each condition gets its accuracy with a 95% bootstrap interval, its relative gain over no
instruction, its helped/harmed counts against no instruction, the exact McNemar p-value, and its
cost: the student's mean generated tokens, tokens per correct answer, and answers cut at the
budget (`student_max_tokens`). Instructions are generated greedily, so an evaluation is
deterministic and fully cached; instructions that hit the teacher's token limit are counted.

Every teacher condition uses one instruction protocol (template, placement, limits): the one
the trained teacher was trained with (read from its run folder), else `instruction.*`. The
student answers within the budget the trained teacher was trained for, unless
`student_max_tokens` says otherwise (then the table says so: another budget is another experiment).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from w2s.cache import ResponseCache
from w2s.config import cache_setting, check_ranges, data_setting, seed_setting, setting, task_setting, to_dict
from w2s.errors import W2SError
from w2s.jsonl import write_atomic, write_jsonl
from w2s.outputs import plan_writes
from w2s.paths import default_cache_path
from w2s.scoring import score_responses
from w2s.stats import bootstrap_ci, mcnemar_exact, shown, win_rate
from w2s.students import SamplingParams, Student, StudentConfig, make_student
from w2s.students.base import usage_line
from w2s.tasks import get_task
from w2s.wst.protocol import InstructionProtocol
from w2s.wst.static import StaticConfig, check_candidates, pick_static, read_optimized
from w2s.wst.teacher import (
    Teacher,
    check_teacher_source,
    teacher_protocol,
    trained_run_config,
    trained_task,
    training_student_calls,
)

DEFAULT_STUDENT_MAX_TOKENS = 512  # when neither the config nor a trained teacher's protocol sets one


@dataclass
class WSTEvalConfig:
    task: str | None = task_setting(None, "default: the trained teacher's own task, else gsm8k")
    data: str | None = data_setting()
    split: str = setting("test", help="held-out split")
    limit: int | None = setting(200, low=1, help="held-out questions")
    seed: int | None = seed_setting()
    offset: int = setting(0, low=0,
                          help="skip this many questions first (after any shuffle), e.g. to leave a "
                               "published set out")
    student_max_tokens: int | None = setting(None, low=1,
                    help="None: the budget the trained teacher was trained for (its protocol), else 512")
    generic_instruction: str | None = setting("Let's think step by step.", help="None skips the condition")
    untrained_teacher: str | None = setting("smollm2-135m-instruct", help="None skips the condition")
    trained_teacher: str | None = setting(None, flag="teacher",
                                          help="the trained teacher: a `w2s wst train` run folder (its final/ and "
                                               "its instruction protocol), a model folder, a LoRA adapter, a pack "
                                               "or a hub id")
    self_instruction: bool = setting(True,
                                     help="also a condition where the student writes its own instruction")
    api_teacher: StudentConfig | None = setting(None,
                                                help="any teacher behind an OpenAI-compatible API (e.g. a "
                                                     "stronger model as teacher), e.g. "
                                                     "api_teacher.backend=openai "
                                                     "api_teacher.model=gpt-4o-mini api_teacher.base_url=...")
    instruction: InstructionProtocol | None = setting(None,
                                                      help="None: the trained teacher's own protocol (saved "
                                                           "by `w2s wst train`), else the defaults")
    judge: StudentConfig | None = setting(None,
                                          help="an independent pairwise judge of each condition's answers "
                                               "against no instruction (open-ended tasks: a second opinion "
                                               "beside the reward model), e.g. judge.backend=openai "
                                               "judge.model=...")
    judge_mode: Literal["verdict", "probability"] = setting(
        "verdict", help="verdict: the judge's generated A/B/tie; probability: judges that score text "
                        "(see w2s.judge)")
    # static-instruction baselines picked on validation questions (see w2s.wst.static), e.g.
    # static.candidates='[...]' static.from_untrained=8 static.optimized=RUN_DIR
    static: StaticConfig = field(default_factory=StaticConfig)
    output: str = setting("runs/wst/eval",
                          help="folder for wst_eval.json and the JSONL of every instruction and answer")
    cache: str | None = cache_setting()
    student: StudentConfig = setting(default_factory=StudentConfig, help="the student", flags={"model": "model"})

    def __post_init__(self) -> None:
        check_ranges(self)


def eval_protocol(config: WSTEvalConfig) -> tuple[InstructionProtocol, str, int, str]:
    """The instruction protocol for every teacher condition and where it came from, and the
    student's answer budget and where that came from.

    The budget is the trained teacher's (its protocol records it) unless `student_max_tokens` is
    set: an evaluation at another budget than the teacher's is a different experiment, so it is
    printed and recorded beside the result. Without a recorded budget, 512 tokens.
    """
    protocol, source = teacher_protocol(config.trained_teacher, config.instruction)
    trained = protocol if config.trained_teacher else replace(protocol, student_max_tokens=None)
    budget, budget_source = trained.answer_budget(config.student_max_tokens, DEFAULT_STUDENT_MAX_TOKENS)
    return protocol, source, budget, budget_source


def run_wst_eval(config: WSTEvalConfig, student: Student | None = None) -> dict:
    """Every condition's instructions, the student's answers to all of them in one call, the table
    of paired tests and costs; written to `output` (wst_eval.json, every instruction and answer)."""
    if config.task is None:  # a teacher is evaluated on its own task unless told otherwise
        found = trained_task(config.trained_teacher) if config.trained_teacher else None
        config = replace(config, task=found or "gsm8k")
        print(f"task {config.task} ({'the one the trained teacher was trained on' if found else 'the default'})")
    task = get_task(config.task)
    examples = task.load(config.split, config.data, config.limit, config.seed, offset=config.offset)
    out = Path(config.output)
    cache_path = config.cache or default_cache_path()
    plan_writes([out / "instructions_and_answers.jsonl", out / "wst_eval.json"], reads=[config.data],
                cache=cache_path)
    protocol, protocol_source, budget, budget_source = eval_protocol(config)
    print(f"instruction protocol {protocol_source}: template {protocol.template!r:.60}, placement "
          f"{protocol.placement}, max {protocol.max_tokens} tokens; student answers up to {budget} tokens "
          f"({budget_source})")
    for teacher in (config.trained_teacher, config.untrained_teacher):
        if teacher:
            check_teacher_source(teacher)
    optimized = check_static(config, protocol)
    cache = ResponseCache(cache_path)
    student = student or make_student(config.student, cache)
    written = instruction_conditions(config, protocol, examples, student, cache)
    conditions = written.conditions
    bare = replace(protocol, base_instruction=None)  # static lines and no instruction stand alone
    pick = best = None
    if config.static.active:
        pick = static_baselines(config, task, student, bare, budget, examples, optimized, cache)
        best = pick.best if pick.best in ("generic", "optimized (GEPA)") else "best static"
        if best not in conditions:
            conditions[best] = [pick.candidates[pick.best]] * len(examples)
        if optimized and "optimized (GEPA)" not in conditions:
            conditions["optimized (GEPA)"] = [optimized["instruction"]] * len(examples)
    answered = answer_conditions(task, student, protocol, bare, conditions, examples, budget)
    correct = {name: s.values for name, s in answered.scored.items()}
    judged = judge_conditions(config, cache, task, examples, answered.outputs, list(conditions)) if config.judge else {}
    table = condition_table(answered, written.truncated, judged, task.grader.scalar)
    for row in table:
        row["cost_to_find"] = cost_to_find(row["condition"], config, pick, optimized)
    write_jsonl(out / "instructions_and_answers.jsonl", answered.rows)
    summary = {"task": task.name, "split": config.split, "n": len(examples), "student": student.name,
               "scalar": task.grader.scalar, "grader": task.grader.name,
               "student_max_tokens": budget, "student_max_tokens_source": budget_source,
               "protocol": to_dict(protocol),
               "protocol_source": protocol_source, "conditions": table,
               "usage": {f"student {student.name}": student.stats.usage(student.price),
                         **{f"teacher {w.name} ({c})": w.stats.usage(w.price)
                            for c, w in written.writers.items() if w is not student}},
               "trained_teacher_vs": trained_teacher_vs(correct), "config": to_dict(config)}
    if pick is not None:
        summary["static"] = pick.to_json(config.static.split)
        summary["vs_best_static"] = teachers_vs(correct, best)
    write_atomic(out / "wst_eval.json", [json.dumps(summary, indent=2)])
    summary["output"] = str(out)
    return summary


@dataclass
class Written:
    """Each condition's instruction per question, who wrote them, and how many were cut."""

    conditions: dict[str, list[str | None]]
    writers: dict[str, Student]
    truncated: dict[str, int]


def fixed_conditions(config: WSTEvalConfig, protocol: InstructionProtocol) -> dict[str, str | None]:
    """The conditions whose instruction is the same for every question (`--plan` reads these too)."""
    fixed: dict[str, str | None] = {"no instruction": None}
    if protocol.base_instruction:  # the static line a teacher trained beside it adds to, on its own
        fixed["base instruction"] = None
    if config.generic_instruction:
        fixed["generic"] = config.generic_instruction
    return fixed


def teacher_names(config: WSTEvalConfig) -> list[str]:
    """The per-question teacher conditions this config asks for, in table order."""
    return [name for name, on in (("untrained teacher", config.untrained_teacher),
                                  ("trained teacher", config.trained_teacher),
                                  ("self-instruction", config.self_instruction),
                                  (f"API teacher ({config.api_teacher.model})" if config.api_teacher else "",
                                   config.api_teacher)) if on]


def instruction_conditions(config: WSTEvalConfig, protocol: InstructionProtocol, examples: list, student: Student,
                           cache: ResponseCache) -> Written:
    """No instruction, the base line and the generic line, and every teacher's instructions."""
    questions = [e.question for e in examples]
    written = Written({name: [text] * len(examples) for name, text in fixed_conditions(config, protocol).items()},
                      {}, {})
    loaders = {"untrained teacher": lambda: Teacher.load(config.untrained_teacher, protocol, cache),
               "trained teacher": lambda: Teacher.load(config.trained_teacher, protocol, cache),
               "self-instruction": lambda: Teacher(student, protocol)}
    for name in teacher_names(config):
        load = loaders.get(name, lambda: Teacher(make_student(config.api_teacher, cache), protocol))  # API teacher
        teacher = load()
        instructions = teacher.write(questions)
        written.writers[name] = teacher.lm
        written.truncated[name] = sum(i.truncated for i in instructions)
        written.conditions[name] = [i.text for i in instructions]
    return written


@dataclass
class Answered:
    """The student's answers to every condition, graded, with their cost and one row per answer."""

    outputs: list
    scored: dict
    cost: dict
    rows: list[dict]


def answer_conditions(task, student: Student, protocol: InstructionProtocol, bare: InstructionProtocol,
                      conditions: dict[str, list[str | None]], examples: list, budget: int) -> Answered:
    """Every condition's prompts in one call to the student (batches fill up across conditions,
    and length-sorted batching groups similar prompts), then graded per condition."""
    prompts = [(protocol if name in BESIDE_BASE or name.startswith("API teacher") else bare).student_prompt(
                   task, e.question, i)
               for name, instructions in conditions.items() for e, i in zip(examples, instructions, strict=True)]
    outputs = student.generate(prompts, SamplingParams(max_tokens=budget),
                               desc=f"student answers ({len(conditions)} conditions)")
    answered, n = Answered(outputs, {}, {}, []), len(examples)
    for c, (name, instructions) in enumerate(conditions.items()):
        answers = [o[0] for o in outputs[c * n: (c + 1) * n]]
        answered.scored[name] = score_responses(task, examples, [a.text for a in answers])
        answered.cost[name] = answer_cost(answers, answered.scored[name].correct)
        answered.rows += [{"condition": name, **g, "question": e.question, "instruction": i, "response": a.text,
                           "n_tokens": a.n_tokens, "finish_reason": a.finish_reason}
                          for e, i, a, g in zip(examples, instructions, answers, answered.scored[name].rows,
                                                strict=True)]
    return answered


def condition_table(answered: Answered, truncated: dict[str, int], judged: dict, scalar: bool) -> list[dict]:
    """One row per condition against no instruction. Right/wrong answers: helped/harmed and
    McNemar's exact test. Open-ended answers scored by a reward model: wins/losses and the exact
    sign test (the same test on scores), plus the win rate with its interval, and an independent
    judge's verdicts if asked."""
    scored = answered.scored
    base, base_acc = scored["no instruction"].values, scored["no instruction"].accuracy.value
    table = []
    for name, s in scored.items():
        est = s.accuracy
        helped, harmed, p = mcnemar_exact(base, s.values)
        gain = (est.value - base_acc) / abs(base_acc) if base_acc != 0 else None
        row = {"condition": name, "accuracy": est.to_dict(), "strict_accuracy": s.strict_accuracy.to_dict(),
               "relative_gain": gain, "helped": helped, "harmed": harmed, "mcnemar_p": p, **answered.cost[name],
               "instructions_truncated": truncated.get(name, 0)}
        if scalar:
            row["win_rate"] = win_rate(base, s.values).to_dict()
        if name in judged:
            row["judge"] = judged[name]
        table.append(row)
    return table


# The conditions whose student prompt carries the protocol's base instruction (when it has one):
# the teachers' instructions are added to it, as in training; static lines stand alone.
BESIDE_BASE = {"base instruction", "untrained teacher", "trained teacher", "self-instruction"}


def check_static(config: WSTEvalConfig, protocol: InstructionProtocol) -> dict | None:
    """The static baselines' inputs, checked before any model loads; the optimizer's result if any."""
    static = config.static
    if static.candidates:
        try:
            check_candidates(static.candidates, "static.candidates", protocol.max_chars)
        except ValueError as err:
            raise W2SError(str(err)) from None
    if static.from_untrained and not config.untrained_teacher:
        raise W2SError("static.from_untrained needs untrained_teacher (the model whose instructions are the candidates)")
    return read_optimized(static.optimized) if static.optimized else None


def static_baselines(config: WSTEvalConfig, task, student: Student, protocol: InstructionProtocol, budget: int,
                     examples: list, optimized: dict | None, cache: ResponseCache):
    """Every static candidate scored on validation questions that are not evaluation questions."""
    static = config.static
    validation = task.load(static.split, config.data, static.questions, static.seed)
    shared = {e.question.strip() for e in validation} & {e.question.strip() for e in examples}
    if shared:
        raise W2SError(f"static.split '{static.split}' shares {len(shared)} questions with the evaluation split "
                       f"'{config.split}': static instructions must be picked on other questions")
    candidates = {"generic": config.generic_instruction} if config.generic_instruction else {}
    candidates |= {f"candidate {i}": text for i, text in enumerate(static.candidates or [], start=1)}
    if static.from_untrained:
        untrained = Teacher.load(config.untrained_teacher, protocol, cache)
        written = untrained.write([e.question for e in validation[: static.from_untrained]])
        for i, text in enumerate(dict.fromkeys(w.text for w in written if w.text.strip()), start=1):
            candidates[f"untrained teacher's #{i}"] = text
    found_cost = {}
    if optimized:
        candidates["optimized (GEPA)"] = optimized["instruction"]
        found_cost["optimized (GEPA)"] = optimized["cost"]
    pick = pick_static(task, student, protocol, candidates, validation, budget, found_cost)
    print(f"static baselines: best on {pick.questions} {static.split} questions is {pick.best} "
          f"({pick.validation_accuracy[pick.best]:.3f}) of {len(candidates)}; picking took "
          f"{pick.cost['student_calls']} student calls")
    return pick


def cost_to_find(condition: str, config: WSTEvalConfig, pick, optimized: dict | None) -> dict | None:
    """Student calls spent to obtain a condition before the evaluation: none for a hand-written
    line, validation answers for a picked one (plus the optimizer's own), the trained teacher's
    training answers. None where w2s cannot know (an API teacher's own training, say)."""
    picking = pick.cost["student_calls"] if pick is not None else 0
    if condition in ("no instruction", "generic"):
        return {"student_calls": 0}
    if condition == "best static":
        return {"student_calls": picking}
    if condition == "optimized (GEPA)" and optimized:
        return {"student_calls": optimized["cost"].get("student_calls", 0) + picking}
    if condition == "trained teacher" and config.trained_teacher:
        run = trained_run_config(config.trained_teacher)
        return {"student_calls": training_student_calls(run)} if run else None
    if condition == "untrained teacher" or condition == "self-instruction":
        return {"student_calls": 0}
    return None


def teachers_vs(correct: dict[str, list[bool]], baseline: str) -> list[dict]:
    """Each per-question teacher condition against the best static baseline (picked on
    validation), paired on the test questions: exact McNemar, the teacher as the treatment."""
    static = {"no instruction", "generic", "best static", "optimized (GEPA)"}
    rows = []
    for name, outcomes in correct.items():
        if name not in static:
            better, worse, p = mcnemar_exact(correct[baseline], outcomes)
            rows.append({"condition": name, "baseline": baseline, "better": better, "worse": worse, "mcnemar_p": p})
    return rows


def answer_cost(answers: list, correct: list[bool]) -> dict:
    """What a condition costs in student tokens: per answer, per correct answer, and answers cut.

    Mean length in characters too: reward models are known to favour longer answers.
    """
    tokens = sum(a.n_tokens for a in answers)
    right = sum(correct)
    return {"mean_tokens": tokens / len(answers) if answers else 0.0,
            "mean_chars": sum(len(a.text) for a in answers) / len(answers) if answers else 0.0,
            "tokens_per_correct": tokens / right if right else None,
            "answers_cut": sum(a.finish_reason == "length" for a in answers)}


def judge_conditions(config: WSTEvalConfig, cache: ResponseCache, task, examples, outputs, names: list[str]) -> dict:
    """An independent pairwise judge: each condition's answer against the no-instruction answer."""
    from w2s.judge import PairwiseJudge, position_report, position_warning

    judge = PairwiseJudge(make_student(config.judge, cache), mode=config.judge_mode)
    chats = [task.messages(e.question) for e in examples]
    n = len(examples)
    answers = {name: [o[0].text for o in outputs[c * n:(c + 1) * n]] for c, name in enumerate(names)}
    # every condition in one call to the judge (one set of batches, one progress bar), split after
    compared = names[1:]
    judged = judge.compare(chats * len(compared), [a for name in compared for a in answers[name]],
                           answers["no instruction"] * len(compared))
    results = {}
    for c, name in enumerate(compared):
        verdicts = judged.scores[c * n:(c + 1) * n]
        wins, losses, p = mcnemar_exact([0.5] * n, verdicts)
        positions = position_report(judged.orders[c * n:(c + 1) * n])
        results[name] = {"judge": config.judge.model, "mode": config.judge_mode, "win_rate": bootstrap_ci(verdicts).to_dict(), "wins": wins,
                         "losses": losses, "sign_p": p, **positions}
        if warning := position_warning(positions):
            print(f"note: judge {config.judge.model} on {name}: {warning}")
    if judged.unreadable:
        print(f"note: judge {config.judge.model}: {judged.unreadable} answers were neither A, B nor tie (counted as ties)")
    return results


def trained_teacher_vs(correct: dict[str, list[bool]]) -> list[dict]:
    """The trained teacher against every other condition, paired on the same questions.

    The method's claim is that the trained teacher beats the baselines (the untrained teacher,
    the student's own instruction), not only no instruction, so each gets the same exact McNemar
    test with the trained teacher as the treatment. Empty when there is no trained teacher.
    """
    trained = correct.get("trained teacher")
    if trained is None:
        return []
    rows = []
    for name, outcomes in correct.items():
        if name != "trained teacher":
            better, worse, p = mcnemar_exact(outcomes, trained)
            rows.append({"condition": name, "trained_better": better, "trained_worse": worse, "mcnemar_p": p})
    return rows


def format_table(summary: dict) -> str:
    budget = summary.get("student_max_tokens")
    lines = [f"{summary['task']} ({summary['split']}), student {summary['student']}, n={summary['n']}, "
             f"student budget {budget} tokens"
             + (f" ({summary['student_max_tokens_source']})" if summary.get("student_max_tokens_source") else "")]
    if summary.get("scalar"):
        return "\n".join(lines + _scalar_table(summary))
    lines += ["| condition | accuracy [95% CI] | relative gain | helped | harmed | McNemar p | mean tokens | "
              "tokens per correct | answers cut | instructions cut | student calls to obtain |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in summary["conditions"]:
        acc = row["accuracy"]
        gain = "n/a" if row["relative_gain"] is None else f"{100 * row['relative_gain']:+.1f}%"
        per_correct = "n/a" if row.get("tokens_per_correct") is None else f"{row['tokens_per_correct']:.0f}"
        found = row.get("cost_to_find")
        calls = "n/a" if found is None else f"{found['student_calls']:,}"
        lines.append(f"| {row['condition']} | {shown(acc)} | {gain} | "
                     f"{row['helped']} | {row['harmed']} | {row['mcnemar_p']:.4g} | {row.get('mean_tokens', 0):.0f} | "
                     f"{per_correct} | {row.get('answers_cut', 0)} | {row.get('instructions_truncated', 0)} | "
                     f"{calls} |")
    lines += _judge_and_usage(summary)
    return "\n".join(lines)


def _scalar_table(summary: dict) -> list[str]:
    """Open-ended answers: the grader's mean score, wins/losses against no instruction, the judge."""
    lines = [f"| condition | mean {summary.get('grader', 'score')} score [95% CI] | win rate vs none [95% CI] | wins | "
             "losses | sign-test p | judge win rate [95% CI] | judge p | mean tokens | mean chars |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in summary["conditions"]:
        acc, win, judge = row["accuracy"], row.get("win_rate"), row.get("judge")
        win_text = shown(win) if win else "n/a"
        judge_text = f"{shown(judge['win_rate'])} | {judge['sign_p']:.4g}" if judge else "n/a | n/a"
        lines.append(f"| {row['condition']} | {shown(acc)} | {win_text} | "
                     f"{row['helped']} | {row['harmed']} | {row['mcnemar_p']:.4g} | {judge_text} | "
                     f"{row.get('mean_tokens', 0):.0f} | {row.get('mean_chars', 0):.0f} |")
    return lines + _judge_and_usage(summary)


def _judge_and_usage(summary: dict) -> list[str]:
    lines: list[str] = []
    if summary.get("trained_teacher_vs"):
        # the same exact test either way: McNemar on right/wrong answers, the sign test on scores
        header = ("| trained teacher vs | trained scored higher | trained scored lower | sign-test p |"
                  if summary.get("scalar") else
                  "| trained teacher vs | trained right, other wrong | trained wrong, other right | McNemar p |")
        lines += ["", header, "| --- | --- | --- | --- |"]
        lines += [f"| {row['condition']} | {row['trained_better']} | {row['trained_worse']} | {row['mcnemar_p']:.4g} |"
                  for row in summary["trained_teacher_vs"]]
    if summary.get("vs_best_static"):
        static = summary["static"]
        lines += ["", f"Best static instruction on {static['questions']} {static['split']} questions (picked there, "
                      f"of {len(static['candidates'])}): {static['best']}.",
                  "| condition vs the best static | condition right, static wrong | condition wrong, static right "
                  "| McNemar p |", "| --- | --- | --- | --- |"]
        lines += [f"| {row['condition']} | {row['better']} | {row['worse']} | {row['mcnemar_p']:.4g} |"
                  for row in summary["vs_best_static"]]
    judged = [row for row in summary["conditions"] if row.get("judge", {}).get("answers")]
    if judged:  # position bias: what to read a judge's ties as
        lines += ["", "Judge's raw answers (both orders), by the position of the reply it picked: " + "; ".join(
            f"{row['condition']}: first {row['judge']['answers']['first shown']}, second "
            f"{row['judge']['answers']['second shown']}, tie {row['judge']['answers']['tie']}, unreadable "
            f"{row['judge']['answers']['unreadable']}" for row in judged) + "."]
    if summary.get("usage"):
        lines += ["", *(f"- usage, {usage_line(who, usage)}" for who, usage in summary["usage"].items())]
    return lines
