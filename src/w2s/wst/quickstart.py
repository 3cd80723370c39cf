"""`w2s quickstart`: a trained WST teacher lifting its student, and the WST loop running, offline.

Everything runs on the offline packs and the reasoning-gym "model organism" task
(`rg:chain_sum?min_terms=3&max_terms=4&max_digits=2`, generated offline), sized for a 2-core CPU
without native bf16 (about 10 minutes there, pack preparation included):

1. **The committed teacher against no instruction, on held-out questions.** The SmolLM2-135M
   teacher trained by the pre-registered organism run (`results/wst_organism_teacher`, 100 GRPO
   steps) writes an instruction for each of 32 test questions that the published evaluation did
   not use (test items 400-431; it used 0-399). The Qwen2.5-0.5B student answers each question
   with and without it, within the 128 tokens the teacher was trained for (its protocol). At the
   published effect (116 better / 8 worse of 400) 32 questions reach p < 0.05 in the exact
   McNemar test about 80% of the time; the report gives the test's result, whatever it is.
2. **The loop itself.** A few GRPO steps of a fresh, untrained teacher with the outcome reward
   (the student's graded answer with the instruction minus without), to show what a step does
   and costs; beside it, the full run's training curve, for what learning looks like over 100
   steps. A few steps do not train a teacher.

The report (`runs/quickstart/report.md`) says what the teacher's gain is made of: a format cue
that gets this student to a short, marked answer (`results/wst_organism_cpu.md`; the gain
survives larger budgets, `results/wst_seed_cpu.md`), not arithmetic. Everything is cached, so a rerun costs seconds; fp32 throughout, as the
published run, so the answers are the same on every CPU up to floating-point rounding.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from w2s.cache import ResponseCache
from w2s.config import cache_setting, check_ranges, setting
from w2s.errors import W2SError
from w2s.graders import answer_is
from w2s.jsonl import read_json, read_jsonl, write_atomic, write_json
from w2s.outputs import plan_writes
from w2s.paths import default_cache_path
from w2s.stats import mcnemar_power
from w2s.students import StudentConfig, make_student
from w2s.tasks import get_task
from w2s.wst.evaluate import WSTEvalConfig, format_table, run_wst_eval
from w2s.wst.rewards import RewardConfig
from w2s.wst.teacher import teacher_protocol
from w2s.wst.train import TeacherConfig, WSTTrainConfig, train_teacher

REPO = Path(__file__).resolve().parents[3]
ORGANISM_TASK = "rg:chain_sum?min_terms=3&max_terms=4&max_digits=2"
ORGANISM_TEACHER = REPO / "results" / "wst_organism_teacher"
# The pre-registered evaluations the report compares with, read from their committed summaries
# (never restated as numbers in this file): the organism teacher's 400 test questions, and the
# same teacher in front of the larger 1.5B student at its 128-token budget (issue #45).
PUBLISHED_EVAL = REPO / "results" / "wst_organism" / "eval" / "wst_eval.json"
LARGER_STUDENT_EVAL = REPO / "results" / "reason_gsm8k_15b" / "organism_128" / "wst_eval.json"
LARGER_STUDENT_EVAL_512 = REPO / "results" / "reason_gsm8k_15b" / "organism_512" / "wst_eval.json"


@dataclass(frozen=True)
class Comparison:
    """The trained teacher against no instruction (and the brief line, where asked) in one
    `wst_eval.json`."""

    n: int
    none: float
    teacher: float
    helped: int
    harmed: int
    line: float | None = None
    teacher_vs_line: tuple[int, int] | None = None  # (teacher better, teacher worse)

    @classmethod
    def read(cls, path: Path) -> Comparison:
        summary = read_json(path)
        rows = {r["condition"]: r for r in summary["conditions"]}
        versus = next((r for r in summary.get("trained_teacher_vs", []) if r["condition"] == "generic"), None)
        trained = rows["trained teacher"]
        return cls(summary["n"], rows["no instruction"]["accuracy"]["value"], trained["accuracy"]["value"],
                   trained["helped"], trained["harmed"],
                   rows["generic"]["accuracy"]["value"] if "generic" in rows else None,
                   (versus["trained_better"], versus["trained_worse"]) if versus else None)
PUBLISHED = "results/wst_organism_cpu.md"
BRIEF = "Be brief: work it out in one or two short lines, then give the final answer in \\boxed{}."


@dataclass
class QuickstartConfig:
    # the committed organism teacher (adapter + protocol), named relative to the repository when run there
    teacher: str = setting(default_factory=lambda: _shown(ORGANISM_TEACHER),
                           help="the trained teacher shown (a run folder, adapter, model, pack or hub id)")
    task: str = setting(ORGANISM_TASK, help="the task the teacher was trained on")
    base_teacher: str = setting("smollm2-135m-instruct",
                                help="the untrained teacher of the GRPO steps (its run's base)")
    eval_questions: int = setting(32, low=1,
                                  help="~80% power at the published effect (116/8 of 400), exact McNemar")
    eval_offset: int = setting(400, low=0, help="the published evaluation used test items 0-399")
    steps: int = setting(2, low=1, help="GRPO steps of the loop demonstration")
    questions_per_step: int = setting(1, low=1, help="questions per GRPO step of the fresh teacher")
    num_generations: int = setting(4, low=2, help="instructions per question in a GRPO step")
    learning_rate: float = setting(1e-4, above=0, high=1, help="the organism run's")
    brief_instruction: str | None = setting(BRIEF,
                                            help="what a user would write instead of training a teacher (the"
                                                 " seed study's line); None skips it")
    output: str = setting("runs/quickstart", help="run folder")
    cache: str | None = cache_setting()
    # fp32 as in the published run: answers match it on any CPU (bf16 changes greedy answers);
    # 96 = three conditions x 32 questions in one decoding pass
    student: StudentConfig = field(default_factory=lambda: StudentConfig(dtype="float32", batch_size=96))

    def __post_init__(self) -> None:
        check_ranges(self)


def run_quickstart(config: QuickstartConfig) -> Path:
    started = time.perf_counter()
    out = Path(config.output)
    cache_path = config.cache or str(default_cache_path())
    plan_writes([out / f for f in ("report.md", "quickstart.json", "eval/wst_eval.json",
                                   "eval/instructions_and_answers.jsonl")], cache=cache_path)
    if not Path(config.teacher).exists():
        raise W2SError(f"{config.teacher}: the committed organism teacher is not here; run the quickstart from a "
                       "clone of the w2s repository, or pass teacher=PATH")
    cache = ResponseCache(cache_path)

    protocol, _ = teacher_protocol(config.teacher, None)
    budget, _ = protocol.answer_budget(None, 128)  # the committed teacher's own (128)
    first, last = config.eval_offset, config.eval_offset + config.eval_questions - 1
    print(f"[1/3] the committed teacher ({Path(config.teacher).name}) vs no instruction: {config.eval_questions} "
          f"held-out {config.task} test questions ({first}-{last}; the published evaluation used 0-399), "
          f"student answers up to {budget} tokens, as the teacher was trained")
    student = make_student(config.student, cache)
    eval_start = time.perf_counter()
    summary = run_wst_eval(WSTEvalConfig(
        task=config.task, split="test", limit=config.eval_questions, offset=config.eval_offset,
        generic_instruction=config.brief_instruction, untrained_teacher=None, trained_teacher=config.teacher,
        self_instruction=False,
        output=str(out / "eval"), cache=cache_path, student=config.student,
    ), student=student)
    eval_s = time.perf_counter() - eval_start
    print(format_table(summary))

    train_out = out / "train"
    print(f"[2/3] the WST loop: {config.steps} GRPO steps of an untrained teacher "
          f"({config.questions_per_step} questions x {config.num_generations} instructions a step, outcome reward)")
    train_start = time.perf_counter()
    if (train_out / "final").is_dir():
        print(f"      already done: {train_out}")
    else:
        train_teacher(WSTTrainConfig(
            task=config.task, train_split="train_1", eval_split="test", steps=config.steps,
            questions_per_step=config.questions_per_step, num_generations=config.num_generations,
            learning_rate=config.learning_rate, save_steps=1, student_max_tokens=budget, output=str(train_out),
            cache=cache_path, instruction=replace(protocol, student_max_tokens=None),
            reward=RewardConfig(kind="relative"),
            teacher=TeacherConfig(model=config.base_teacher, lora=True, bf16=False),
            student=config.student,
        ), resume=any(train_out.glob("checkpoint-*")), student=student)
    train_s = time.perf_counter() - train_start

    report = write_quickstart_report(out, config, eval_s, train_s, time.perf_counter() - started)
    print(f"[3/3] report: {report}")
    print(verdict(summary))
    return report


def verdict(summary: dict) -> str:
    """One honest line on the held-out comparison."""
    rows = {r["condition"]: r for r in summary["conditions"]}
    none, trained = rows["no instruction"], rows["trained teacher"]
    p, n = trained["mcnemar_p"], summary["n"]
    line = (f"trained teacher {trained['accuracy']['value']:.3f} vs no instruction {none['accuracy']['value']:.3f} "
            f"on {n} held-out questions: {trained['helped']} better, {trained['harmed']} worse, exact McNemar "
            f"p = {p:.2g}")
    if p < 0.05 and trained["helped"] > trained["harmed"]:
        return line + ": the trained teacher lifts the student (significant at 0.05)."
    published = Comparison.read(PUBLISHED_EVAL)
    return line + (f": not significant at 0.05 on this sample (the published run: {published.teacher:.3f} vs "
                   f"{published.none:.3f}, n = {published.n}, {PUBLISHED}).")


def against_the_line(summary: dict, line: str | None) -> list[str]:
    """The comparison a user needs: the teacher against the one line they would write instead."""
    versus = next((r for r in summary.get("trained_teacher_vs", []) if r["condition"] == "generic"), None)
    if line is None or versus is None:
        return []
    brief = next(r for r in summary["conditions"] if r["condition"] == "generic")
    larger = Comparison.read(LARGER_STUDENT_EVAL)
    return [f"**Against what a user would write instead.** The hand-written line *{line}* scored "
            f"{brief['accuracy']['value']:.3f} on the same questions; the trained teacher against it: "
            f"{versus['trained_better']} better, {versus['trained_worse']} worse, exact McNemar p = "
            f"{versus['mcnemar_p']:.2g}. On 200 other test questions at this budget the seed study found the two "
            "alike on this student (`results/wst_seed_cpu.md`), and in front of the larger 1.5B student the line "
            f"far ahead ({larger.line:.3f} against {larger.teacher:.3f}, teacher better on {larger.teacher_vs_line[0]}"
            f" and worse on {larger.teacher_vs_line[1]} of {larger.n}, `results/reason_gsm8k_15b_cpu.md`): a "
            "trained teacher is worth its training only where it beats the best single instruction.", ""]


def _evaluation_lines(out: Path, config: QuickstartConfig, timing: str) -> list[str]:
    """Part 1 of the report: the committed teacher against no instruction and the brief line, with
    what its gain is made of (answers cut, accuracy of the finished ones, answers stated)."""
    summary = read_json(out / "eval" / "wst_eval.json")
    rows = {r["condition"]: r for r in summary["conditions"]}
    none, trained = rows["no instruction"], rows["trained teacher"]
    answers = list(read_jsonl(out / "eval" / "instructions_and_answers.jsonl"))
    by = {c: [a for a in answers if a["condition"] == c] for c in rows}
    budget = summary["student_max_tokens"]

    def uncut_accuracy(condition: str) -> str:
        kept = [a for a in by[condition] if a["finish_reason"] != "length"]
        return f"{sum(a['correct'] for a in kept)}/{len(kept)}" if kept else "0/0"

    published = Comparison.read(PUBLISHED_EVAL)
    larger, larger_512 = Comparison.read(LARGER_STUDENT_EVAL), Comparison.read(LARGER_STUDENT_EVAL_512)
    task = get_task(config.task)
    stated = [(answer_is(a["instruction"] or ""), a["gold"]) for a in by["trained teacher"]]
    stated = [(n, gold) for n, gold in stated if n]
    stated_right = sum(task.grader.equivalent(n, gold) for n, gold in stated)
    examples = by["trained teacher"][:3]
    lines = [
        "# w2s quickstart: a trained WST teacher in front of its student", "",
        timing, "",
        "## 1. The committed teacher against no instruction, on held-out questions", "",
        f"Teacher: `{Path(config.teacher).name}` (SmolLM2-135M-Instruct + LoRA, 100 GRPO steps, {PUBLISHED}). "
        f"Student: {summary['student']}, greedy, fp32, answers of at most {budget} tokens "
        f"({summary.get('student_max_tokens_source', '')}). Task `{config.task}`, test items "
        f"{config.eval_offset}-{config.eval_offset + summary['n'] - 1}: the published evaluation used items "
        f"0-399, so none of these was seen by any choice.", "",
        format_table(summary), "",
        f"**{verdict(summary)}**", "",
        *against_the_line(summary, config.brief_instruction),
        f"How large the sample is: n = {summary['n']}. At the published effect size ({published.helped} better, "
        f"{published.harmed} worse of {published.n}) an exact McNemar test on {summary['n']} questions reaches "
        f"p < 0.05 with probability "
        f"{mcnemar_power(summary['n'], published.helped / published.n, published.harmed / published.n):.2f} "
        "(computed exactly from the published rates), so a miss is possible "
        "and would not contradict the published result; the intervals above are 95% bootstrap intervals.", "",
        "**What the gain is made of.** The student writes long explanations that run out of tokens before a "
        f"marked answer: without an instruction {none['answers_cut']} of {summary['n']} answers were cut at "
        f"{budget} tokens, with the teacher's instruction {trained['answers_cut']}. Among answers that finished, "
        f"accuracy was {uncut_accuracy('no instruction')} without and {uncut_accuracy('trained teacher')} with "
        f"the instruction. {len(stated)} of {summary['n']} instructions state an answer (\"the answer is N\"), and "
        f"N is right in {stated_right} of them (in the published run it was wrong 96% of the time, and the student "
        "almost never copied it). So the "
        "instruction works as a format cue that gets this student to a short answer; it does not teach arithmetic. "
        "The seed study (`results/wst_seed_cpu.md`) found that the cue is not only about the budget: at 512 tokens, "
        "where no answer is cut, the teacher still lifts this student (its shorter answers slip less often), and "
        "the lift holds when the same model is served by llama.cpp or vLLM. It does not carry over as such to a "
        f"larger student: in front of the 1.5B it lifts {larger.none:.3f} to {larger.teacher:.3f} at 128 tokens, "
        f"but at 512, where nothing is cut, it lowers {larger_512.none:.3f} to {larger_512.teacher:.3f} "
        "(`results/reason_gsm8k_15b_cpu.md`).", "",
        "What the teacher wrote (first three questions):", "",
        *[f"- `{a['question'].rsplit(':', 1)[-1].strip()}` → *{a['instruction']}* → student {'right' if a['correct'] else 'wrong'}"
          f"{', cut' if a['finish_reason'] == 'length' else ''}" for a in examples],
        "",
    ]
    return lines


def _loop_lines(out: Path, config: QuickstartConfig) -> list[str]:
    """Part 2 of the report: the few GRPO steps run here, beside the full run's training curve."""
    from w2s.plots import training_curves

    metrics = [r for r in read_jsonl(out / "train" / "metrics.jsonl") if "reward" in r] \
        if (out / "train" / "metrics.jsonl").is_file() else []
    full = [r for r in read_jsonl(Path(config.teacher) / "metrics.jsonl") if "reward" in r] \
        if (Path(config.teacher) / "metrics.jsonl").is_file() else []
    lines = ["## 2. The WST loop, a few steps", "",
              f"A fresh SmolLM2-135M teacher (LoRA) samples {config.num_generations} instructions for each of "
              f"{config.questions_per_step} `train_1` questions a step; the student answers each question with "
              "each instruction and once without; the reward is right-with minus right-without (exact grading, "
              "leak penalty 1); GRPO updates the teacher.", "",
              "| step | mean reward | helped | harmed | unchanged | groups with all-equal rewards | teacher s | "
              "student s | grading s | update s | step s |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | "
              "--- | --- |"]
    for r in metrics:
        lines.append(f"| {r['step']} | {r['reward']:+.3f} | {r.get('helped', 0)} | {r.get('harmed', 0)} | "
                     f"{r.get('unchanged', 0)} | {r.get('frac_reward_zero_std', 0):.2f} | "
                     f"{r.get('time/teacher_generation_s', 0):.1f} | {r.get('time/student_s', 0):.1f} | "
                     f"{r.get('time/grading_s', 0):.2f} | {r.get('time/update_s', 0):.1f} | "
                     f"{r.get('time/step_s', 0):.1f} |")
    if full:
        png = training_curves(
            [r["step"] for r in full],
            {"teacher reward (mean over the step's 16 instructions)": {"full organism run": [r["reward"] for r in full]},
             "student accuracy on the step's questions": {
                 "with instruction": [r.get("student/accuracy_with_instruction", 0.0) for r in full],
                 "no instruction": [r.get("student/accuracy_baseline", 0.0) for r in full]}},
            out / "full_run_training.png", "The full organism run (100 GRPO steps, 4 questions x 4 instructions)")
        half = len(full) // 2
        first = sum(r["reward"] for r in full[:half]) / max(1, half)
        second = sum(r["reward"] for r in full[half:]) / max(1, len(full) - half)
        lines += ["", f"![the full run's training curve]({png.name})", "",
                  f"Beside it, the full run ({len(full)} steps of 4 questions x 4 instructions, 4 h of CPU): mean reward "
                  f"{first:+.3f} over its first half and {second:+.3f} over its second. A few steps show the loop "
                  "and its cost, not learning; with outcome rewards a group whose instructions all give the same "
                  "outcome carries no gradient, which is why most early steps move little."]
    return lines


def write_quickstart_report(out: Path, config: QuickstartConfig, eval_s: float, train_s: float,
                            total_s: float) -> Path:
    """report.md: what the quickstart shows, how large its sample is, what the gain is made of."""
    timing = (f"w2s {_commit()}, {platform.machine()} CPU ({_cpu_note()}), {total_s / 60:.1f} min in all "
              f"(evaluation {eval_s / 60:.1f} min, GRPO steps {train_s / 60:.1f} min; pack preparation on first "
              "use not included in these two).")
    lines = [*_evaluation_lines(out, config, timing), *_loop_lines(out, config)]
    lines += ["", "Rerun `w2s quickstart` and everything comes from the cache. To evaluate the committed teacher on "
              "all 400 published questions: `w2s wst eval --task \"" + config.task + "\" --teacher "
              "results/wst_organism_teacher --limit 400 untrained_teacher=null student.dtype=float32`."]
    report = out / "report.md"
    write_atomic(report, ["\n".join(lines) + "\n"])
    write_json(out / "quickstart.json", {"eval_s": eval_s, "train_s": train_s, "total_s": total_s,
                                         "peak_rss_gb": _peak_rss_gb(), "commit": _commit()})
    return report


def _shown(path: Path) -> str:
    """`path` relative to the working folder when it lies under it (no machine path in reports)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _peak_rss_gb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB on Linux


def _commit() -> str:
    try:
        done = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=5)
        return done.stdout.strip() or "(not a git checkout)"
    except (OSError, subprocess.SubprocessError):
        return "(not a git checkout)"


def _cpu_note() -> str:
    from w2s.devices import cpu_has_native_bf16

    note = f"{os.cpu_count()} cores, {'native bf16' if cpu_has_native_bf16() else 'no native bf16'}"
    if os.environ.get("ATEN_CPU_CAPABILITY"):  # a measurement that limits torch's kernels says so
        note += f", torch kernels limited to {os.environ['ATEN_CPU_CAPABILITY']}"
    return note
