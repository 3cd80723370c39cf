"""`w2s reason run`: progressive weak-to-strong reasoning, one resumable step at a time.

The steps and the files each reads and writes under the run folder are declared once, in
`STEPS` (docs/commands.md's step table is checked against it). A step is done when what it writes
exists; outputs are written atomically (JSONL by rename, model folders by rename after training),
so a killed run resumes at the first unfinished step, and the runner refuses a step whose inputs
are missing, naming the step that makes them. Every model answers the test questions right after
it is trained (its `eval-*` step), so its row survives the loss of its folder: a model folder is
needed only until every step that reads it is done. Generation goes through the response cache,
so even a step killed halfway keeps what it generated. Gold answers of train_2 are used only for
the diagnostics each step prints (and for the strong-ceiling baseline), never for selection.
"""

from __future__ import annotations

import functools
import json
import random
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from w2s.cache import ResponseCache
from w2s.config import build, cache_setting, check_ranges, data_setting, setting, task_setting, to_dict
from w2s.errors import W2SError
from w2s.jsonl import read_json, read_jsonl, write_json, write_jsonl
from w2s.outputs import plan_writes
from w2s.paths import default_cache_path
from w2s.reason.report import format_pgr, read_metrics
from w2s.reason.selection import PairRules, build_pairs, consistency_filter, performance_gap_recovered
from w2s.scoring import score_responses
from w2s.stats import bootstrap_ci, mcnemar_exact, pgr_interval, shown
from w2s.students import Prompt, SamplingParams, StudentConfig, make_student
from w2s.students.base import usage_line
from w2s.tasks import Example, Task, get_task
from w2s.training import FinetuneConfig, finetune, preference_row, sft_row

Stage1Set = Literal["weak", "icl", "hybrid"]
STAGE1_SETS: tuple[str, ...] = typing.get_args(Stage1Set)


class NothingToTrain(W2SError):
    """A selection step kept nothing: the steps built on it are skipped, the rest still run."""


@dataclass
class SelectionConfig:
    """How Stage I and Stage II read final answers: strict (marked answers only, as the reference
    code does) or flexible (the grader's fallback, e.g. the last number)."""

    extraction: Literal["strict", "flexible"] = setting("strict", help="strict: marked final answers only; "
                                                                     "flexible: the grader's fallback too")

    def __post_init__(self) -> None:
        check_ranges(self)


@dataclass
class ReasonConfig:
    task: str = task_setting("gsm8k")
    data: str | None = data_setting()
    weak_model: str = setting("smollm2-135m-instruct",
                              help="the weak model (fine-tuned on train_1 gold, it supervises)")
    strong_model: str = setting("qwen2.5-0.5b-instruct", help="the strong model (learns from the weak one)")
    train1_split: str = setting("train_1", help="gold solutions, for the weak model only")
    train2_split: str = setting("train_2",
                                help="questions the strong model learns from (gold: diagnostics only)")
    test_split: str = setting("test", help="split every model is evaluated on")
    train1_limit: int | None = setting(200, low=1, help="train_1 questions (None: all)")
    train2_limit: int | None = setting(200, low=1, help="train_2 questions (None: all)")
    test_limit: int | None = setting(200, low=1, help="test questions (None: all)")
    seed: int | None = setting(0, low=0,
                               help="shuffles each split before its limit (None: file order); seeds demos, "
                                    "samples, pairs (None: 0)")
    max_tokens: int = setting(384, low=1, help="generation budget of every answer")
    icl_demos: int = setting(4, low=0, help="weak train_2 answers shown to the strong model in context")
    stage1_data: Stage1Set = setting("hybrid", help="the Stage I SFT set (hybrid: both answers)")
    stage1_rounds: int = setting(1, low=1,
                                 help=">1 iterates: models fine-tuned on the weak/icl sets answer again")
    samples: int = setting(10, low=1, help="Stage II samples per question")
    sample_temperature: float = setting(1.0, low=0, high=10, help="temperature of the Stage II samples")
    min_confidence: float = setting(0.6, low=0, high=1,
                                    help="Stage II: skip a question whose majority answer has less than this"
                                         " share of the samples")
    flip_confidence: float = setting(0.8, low=0, high=1,
                                     help="Stage II: overrule a weak answer that disagrees with the majority"
                                          " at or above this share")
    max_pairs: int = setting(1, low=1, help="Stage II: distinct pairs per question at most")
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    preference: str | list[str] = setting("dpo",
                                          help="dpo | orpo | [dpo, orpo]: one Stage II model per method")
    baselines: bool = setting(True, help="train full weak FT and the strong ceiling")
    output: str = setting("runs/reason/default", help="run folder")
    cache: str | None = cache_setting()
    sft: FinetuneConfig = field(default_factory=FinetuneConfig)
    preference_training: FinetuneConfig = field(
        default_factory=lambda: FinetuneConfig(epochs=1.0, learning_rate=5e-6, batch_size=2))
    generation: StudentConfig = field(default_factory=StudentConfig)  # backend/batching; model is set per step

    def __post_init__(self) -> None:
        methods = self.preferences
        if not methods or any(m not in ("dpo", "orpo") for m in methods) or len(set(methods)) != len(methods):
            raise ValueError(f"preference must be 'dpo', 'orpo' or a list of both, got {self.preference!r}")
        check_ranges(self)

    @property
    def preferences(self) -> list[str]:
        """The Stage II methods, in order (`preference` as a list)."""
        return [self.preference] if isinstance(self.preference, str) else list(self.preference)


class Run:
    """A run folder: the config, the task's splits, and one way to generate with any model."""

    def __init__(self, config: ReasonConfig) -> None:
        self.config, self.path = config, Path(config.output)
        self.task: Task = get_task(config.task)
        self._splits: dict[str, list[Example]] = {}
        self.usage: dict[str, dict] = {}  # per model: calls and tokens, generated and from the cache

    @functools.cached_property
    def cache(self) -> ResponseCache:
        """Opened when a step first generates: reading a run folder (its report) touches no cache."""
        return ResponseCache(self.config.cache or default_cache_path())

    def split(self, which: str) -> list[Example]:
        c = self.config
        name, limit = {"train1": (c.train1_split, c.train1_limit), "train2": (c.train2_split, c.train2_limit),
                       "test": (c.test_split, c.test_limit)}[which]
        if which not in self._splits:
            self._splits[which] = self.task.load(name, c.data, limit, c.seed)
        return self._splits[which]

    def file(self, name: str) -> Path:
        return self.path / name

    def model(self, name: str) -> Path:
        return self.path / "models" / name

    def generate(self, model: str | Path, prompts: list[Prompt], params: SamplingParams, k: int = 1,
                 desc: str = "generating") -> list[list[str]]:
        student = make_student(replace(self.config.generation, model=str(model)), self.cache)
        try:
            return [[c.text for c in outs] for outs in student.generate(prompts, params, k=k, desc=desc)]
        finally:
            student.close()  # a server w2s started for this model stops now: one model in memory at a time
            total = self.usage.setdefault(Path(str(model)).name, {})
            for key, value in student.stats.usage(student.price).items():
                total[key] = total.get(key, 0) + value

    def greedy(self) -> SamplingParams:
        return SamplingParams(max_tokens=self.config.max_tokens)

    def zero_shot(self, model: str | Path, examples: list[Example], desc: str) -> list[dict]:
        """Greedy zero-shot answers, as rows {id, question, response, gold, pred, correct, strict_*}."""
        answers = [o[0] for o in self.generate(model, [self.task.messages(e.question) for e in examples],
                                               self.greedy(), desc=desc)]
        return _answer_rows(self.task, examples, answers)


def _answer_rows(task: Task, examples: list[Example], answers: list[str]) -> list[dict]:
    scored = score_responses(task, examples, answers) if examples else None
    return [{**g, "question": e.question, "response": a}
            for e, a, g in zip(examples, answers, scored.rows if scored else [], strict=True)]


def _gold_rate(rows: list[dict]) -> str:
    if not rows:
        return "n/a"
    return f"{sum(r['correct'] for r in rows) / len(rows):.3f}"


# ------------------------------------------------------------------------------------------ steps


def _sft_on_gold(run: Run, model: str, split: str, name: str) -> int:
    rows = [sft_row(run.task.messages(e.question), run.task.target_text(e)) for e in run.split(split)]
    finetune("sft", model, rows, run.model(name), run.config.sft)
    return len(rows)


def weak_sft(run: Run) -> None:
    n = _sft_on_gold(run, run.config.weak_model, "train1", "weak")
    print(f"  weak supervisor: {run.config.weak_model} fine-tuned on {n} gold train_1 solutions")


def weak_answers(run: Run) -> None:
    rows = run.zero_shot(run.model("weak"), run.split("train2"), "weak on train_2")
    write_jsonl(run.file("weak_train2.jsonl"), rows)
    print(f"  weak answers: {len(rows)} train_2 questions; gold accuracy {_gold_rate(rows)} (diagnostic)")


def icl_prompt(task: Task, demos: list[dict], question: str) -> Prompt:
    """Few-shot chat: each demo as a user turn and the weak model's answer, then the question."""
    messages: Prompt = []
    for demo in demos:
        messages += [*task.messages(demo["question"]), {"role": "assistant", "content": demo["response"]}]
    return messages + task.messages(question)


def pick_demos(weak_rows: list[dict], k: int, seed: int | None) -> list[dict]:
    """k weak answers with a final answer, fixed for the run (a shared prefix for every prompt)."""
    candidates = [r for r in weak_rows if r["pred"] is not None]
    random.Random(0 if seed is None else seed).shuffle(candidates)  # never unseeded: demos are part of a run
    return candidates[: k + 1]  # one spare replaces a demo that is the question itself


def icl_answers(run: Run) -> None:
    weak_rows = read_jsonl(run.file("weak_train2.jsonl"))
    demos = pick_demos(weak_rows, run.config.icl_demos, run.config.seed)
    examples = run.split("train2")
    prompts = [icl_prompt(run.task, [d for d in demos if d["id"] != e.id][: run.config.icl_demos], e.question)
               for e in examples]
    answers = [o[0] for o in run.generate(run.config.strong_model, prompts, run.greedy(),
                                          desc="strong in-context on train_2")]
    rows = _answer_rows(run.task, examples, answers)
    write_jsonl(run.file("icl_train2.jsonl"), rows)
    print(f"  in-context answers: {len(rows)} questions with {run.config.icl_demos} weak demonstrations; "
          f"gold accuracy {_gold_rate(rows)} (diagnostic)")


def consistency_sets(task: Task, weak_rows: list[dict], icl_rows: list[dict], strict: bool = True
                     ) -> dict[str, list[dict]]:
    """The three Stage I SFT sets from paired answers: weak, in-context, and both (hybrid)."""
    icl_by_id = {r["id"]: r for r in icl_rows}
    paired = [(w, icl_by_id[w["id"]]) for w in weak_rows if w["id"] in icl_by_id]
    keep = consistency_filter(task.grader, [w["response"] for w, _ in paired], [s["response"] for _, s in paired],
                              strict=strict, questions=[w["question"] for w, _ in paired])
    kept = [pair for pair, k in zip(paired, keep, strict=True) if k]
    weak_set = [w for w, _ in kept]
    icl_set = [s for _, s in kept]
    return {"weak": weak_set, "icl": icl_set, "hybrid": weak_set + icl_set}


def stage1_filter(run: Run) -> None:
    weak_rows = read_jsonl(run.file("weak_train2.jsonl"))
    icl_rows = read_jsonl(run.file("icl_train2.jsonl"))
    stats = []
    for round_ in range(1, run.config.stage1_rounds + 1):
        folder = run.file(f"stage1/round{round_}")
        if round_ > 1:  # models trained on last round's weak / in-context sets answer afresh
            answers = {}
            for name in ("weak", "icl"):
                target = folder / f"{name}_answers.jsonl"
                if not target.exists():
                    model = run.model(f"stage1_round{round_ - 1}_{name}")
                    if not model.exists():
                        rows = read_jsonl(run.file(f"stage1/round{round_ - 1}/{name}.jsonl"))
                        finetune("sft", run.config.strong_model, _sft_rows(run.task, rows), model, run.config.sft)
                    write_jsonl(target, run.zero_shot(model, run.split("train2"), f"round {round_} {name} model"))
                answers[name] = read_jsonl(target)
            weak_rows, icl_rows = answers["weak"], answers["icl"]
        sets = consistency_sets(run.task, weak_rows, icl_rows, strict=run.config.selection.extraction == "strict")
        for name, rows in sets.items():
            write_jsonl(folder / f"{name}.jsonl", rows)
        kept = len(sets["weak"])
        stats.append({"round": round_, "questions": len(weak_rows), "kept": kept,
                      "gold_accuracy_weak_kept": _gold_rate(sets["weak"]),
                      "gold_accuracy_icl_kept": _gold_rate(sets["icl"]),
                      "gold_accuracy_all_weak": _gold_rate(weak_rows)})
        print(f"  round {round_}: kept {kept} of {len(weak_rows)} questions (both answers agree); gold accuracy "
              f"of kept weak answers {stats[-1]['gold_accuracy_weak_kept']} vs {stats[-1]['gold_accuracy_all_weak']} "
              "over all (diagnostic)")
    for name in STAGE1_SETS:
        write_jsonl(run.file(f"stage1/{name}.jsonl"), read_jsonl(run.file(f"stage1/round{run.config.stage1_rounds}/"
                                                                         f"{name}.jsonl")))
    write_json(run.file("stage1/filter_stats.json"), stats, indent=1)


def _sft_rows(task: Task, rows: list[dict]) -> list[dict]:
    return [sft_row(task.messages(r["question"]), r["response"]) for r in rows]


def stage1_sft(run: Run) -> None:
    """The Stage I model on the last round's set, after one per earlier round (so each round is
    evaluated); a model already trained by a killed attempt is kept."""
    name, rounds = run.config.stage1_data, run.config.stage1_rounds
    rows = read_jsonl(run.file(f"stage1/{name}.jsonl"))
    if not rows:
        raise NothingToTrain("the Stage I filter kept no question (weak and in-context answers never agreed): "
                       "more train_2 questions or a stronger weak supervisor are needed")
    for round_ in range(1, rounds):
        earlier = read_jsonl(run.file(f"stage1/round{round_}/{name}.jsonl"))
        done = run.model(f"stage1_round{round_}").exists() or run.file(answers_file(f"Stage I (round {round_})")).exists()
        if earlier and not done:
            finetune("sft", run.config.strong_model, _sft_rows(run.task, earlier), run.model(f"stage1_round{round_}"),
                     run.config.sft)
            print(f"  Stage I model of round {round_}: fine-tuned on its {name} set ({len(earlier)} rows)")
    if not run.model("stage1").exists():  # a rerun for a lost earlier round keeps this one
        finetune("sft", run.config.strong_model, _sft_rows(run.task, rows), run.model("stage1"), run.config.sft)
    print(f"  Stage I model{f' of round {rounds}' if rounds > 1 else ''}: {run.config.strong_model} fine-tuned on "
          f"the {name} set ({len(rows)} rows)")


def full_weak_ft(run: Run) -> None:
    rows = read_jsonl(run.file("weak_train2.jsonl"))
    finetune("sft", run.config.strong_model, _sft_rows(run.task, rows), run.model("full_weak_ft"), run.config.sft)
    print(f"  full weak FT: {run.config.strong_model} fine-tuned on all {len(rows)} weak train_2 answers")


def ceiling(run: Run) -> None:
    n = _sft_on_gold(run, run.config.strong_model, "train2", "ceiling")
    print(f"  strong ceiling: {run.config.strong_model} fine-tuned on {n} gold train_2 solutions")


def stage2_samples(run: Run) -> None:
    model = run.model("stage1")
    examples = run.split("train2")
    params = SamplingParams(temperature=run.config.sample_temperature, max_tokens=run.config.max_tokens,
                            seed=0 if run.config.seed is None else run.config.seed)
    outs = run.generate(model, [run.task.messages(e.question) for e in examples], params, k=run.config.samples,
                        desc=f"Stage I model, {run.config.samples} samples per question")
    write_jsonl(run.file("stage2_samples.jsonl"), [{"id": e.id, "responses": o} for e, o in zip(examples, outs,
                                                                                                  strict=True)])
    print(f"  Stage II samples: {run.config.samples} per question for {len(examples)} questions")


def stage2_pairs(run: Run) -> None:
    weak_rows = read_jsonl(run.file("weak_train2.jsonl"))
    samples = read_jsonl(run.file("stage2_samples.jsonl"))
    rules = PairRules(run.config.min_confidence, run.config.flip_confidence, run.config.max_pairs, run.config.seed,
                      strict=run.config.selection.extraction == "strict")
    pairs, branches = build_pairs(run.task.grader, weak_rows, samples, rules)
    gold = {e.id: e.answer for e in run.split("train2")}
    grader = run.task.grader
    chosen_right = sum(grader.grade(p["chosen"], gold[p["id"]]).correct for p in pairs)
    rejected_right = sum(grader.grade(p["rejected"], gold[p["id"]]).correct for p in pairs)
    stats = {"pairs": len(pairs), "questions": len({p["id"] for p in pairs}), "branches": branches,
             "chosen_gold_correct": chosen_right, "rejected_gold_correct": rejected_right}
    write_jsonl(run.file("pairs.jsonl"), pairs)
    write_json(run.file("pairs_stats.json"), stats, indent=1)
    print(f"  pairs: {len(pairs)} from {stats['questions']} questions ({', '.join(f'{k}: {v}' for k, v in branches.items())}); "
          f"gold-correct chosen {chosen_right}, rejected {rejected_right} (diagnostic)")


def stage2_train(run: Run) -> None:
    start = run.model("stage1")
    pairs = read_jsonl(run.file("pairs.jsonl"))
    if not pairs:
        raise NothingToTrain("Stage II has no preference pairs: the Stage I model's samples were never confident "
                       "enough (lower min_confidence, or sample more questions)")
    rows = [preference_row(run.task.messages(p["question"]), p["chosen"], p["rejected"]) for p in pairs]
    for method in run.config.preferences:  # one model per method, each from the Stage I model
        if not run.model(f"stage2_{method}").exists():
            finetune(method, str(start), rows, run.model(f"stage2_{method}"), run.config.preference_training)
            print(f"  Stage II model: {method.upper()} from the Stage I model on {len(rows)} pairs")


def model_table(config: ReasonConfig) -> list[tuple[str, str | None, str]]:
    """Every model a run evaluates, in report order: (report name, folder under models/ or None for
    the untouched strong model, the group whose `eval-*` step answers the test questions with it)."""
    rounds = config.stage1_rounds
    return [("weak floor", "weak", "weak"), ("strong zero-shot", None, "strong"),
            ("full weak FT", "full_weak_ft", "full-weak-ft"),
            *((f"Stage I (round {r})", f"stage1_round{r}", "stage1") for r in range(1, rounds)),
            (f"Stage I (round {rounds})" if rounds > 1 else "Stage I", "stage1", "stage1"),
            *((f"Stage II ({m.upper()})", f"stage2_{m}", "stage2") for m in config.preferences),
            ("strong ceiling", "ceiling", "ceiling")]


def answers_file(name: str) -> str:
    """Where a model's per-question test answers are kept, relative to the run folder."""
    return "eval/" + name.lower().replace(" ", "_").replace("(", "").replace(")", "") + ".jsonl"


def evaluate_group(group: str) -> Callable[[Run], None]:
    """The `eval-<group>` step: each model of the group answers the test questions (greedy), once."""

    def step(run: Run) -> None:
        for name, folder, in_group in model_table(run.config):
            target = run.file(answers_file(name))
            if in_group == group and not target.exists():
                model = run.config.strong_model if folder is None else run.model(folder)
                rows = run.zero_shot(model, run.split("test"), f"test: {name}")
                write_jsonl(target, rows)
                print(f"  {name}: {_gold_rate(rows)} on {len(rows)} test questions")

    return step


def answer_metrics(run: Run) -> dict:
    """Accuracy with intervals, PGR and the McNemar tests of every model that has answered the test
    questions, from the answers files alone (so a model folder lost with a machine does not lose its
    row, and an unfinished run can be reported). The `metrics` step and `w2s reason report` share it."""
    results, correct = {}, {}
    for name, folder, _ in model_table(run.config):
        target = run.file(answers_file(name))
        if not target.exists():
            continue
        rows = list(read_jsonl(target))
        correct[name] = [r["correct"] for r in rows]
        model = run.config.strong_model if folder is None else str(run.model(folder))
        # strict (a marked final answer) beside the headline: selection reads answers strictly
        results[name] = {"model": model, "accuracy": bootstrap_ci(correct[name]).to_dict(),
                         "strict_accuracy": bootstrap_ci([bool(r.get("strict_correct")) for r in rows]).to_dict()}
    floor = results.get("weak floor", {}).get("accuracy", {}).get("value")
    top = results.get("strong ceiling", {}).get("accuracy", {}).get("value")
    for name, row in results.items():
        row["pgr"] = (performance_gap_recovered(row["accuracy"]["value"], floor, top)
                      if floor is not None and top is not None else None)
        # PGR's interval resamples test questions for the model, floor and ceiling together
        interval = (pgr_interval(correct[name], correct["weak floor"], correct["strong ceiling"])
                    if row["pgr"] is not None else None)
        row["pgr_interval"] = None if interval is None else {"low": interval.low, "high": interval.high,
                                                              "undefined_resamples": interval.undefined}
        # the method's claim: its models beat the strong model fine-tuned on every weak answer
        if name.startswith("Stage") and "full weak FT" in correct:
            better, worse, p = mcnemar_exact(correct["full weak FT"], correct[name])
            row["vs_full_weak_ft"] = {"better": better, "worse": worse, "mcnemar_p": p}
    return {"task": run.task.name, "split": run.config.test_split, "n": max(map(len, correct.values()), default=0),
            "models": results,
            "weak_floor": floor, "strong_ceiling": top,
            "not_trained": [name for name, _, _ in model_table(run.config) if name not in results]}


def metrics(run: Run) -> None:
    """metrics.json: what `answer_metrics` finds once every step before this one has run."""
    found = answer_metrics(run)
    write_json(run.file("metrics.json"), found, indent=1)
    for name, row in found["models"].items():
        print(f"  {name:24} {shown(row['accuracy'])}  PGR {format_pgr(row)}"
              + (f"  vs full weak FT: {row['vs_full_weak_ft']['better']} better, {row['vs_full_weak_ft']['worse']} "
                 f"worse, McNemar p={row['vs_full_weak_ft']['mcnemar_p']:.4g}" if "vs_full_weak_ft" in row else ""))


# ---------------------------------------------------------------------- the run folder's file graph


@dataclass(frozen=True)
class Step:
    """One step: the files it reads and writes under the run folder (the pipeline's file graph is
    written here once; `{method}` stands for each Stage II method, `{round}` for each earlier
    Stage I round, `{group}` for the models an `eval-*` step answers with)."""

    name: str
    run: Callable[[Run], None]
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    baseline: bool = False  # skipped when config.baselines is false
    always: bool = False  # cheap, and reads files a later run may add: recomputed on every run

    def paths(self, which: str, config: ReasonConfig) -> list[str]:
        """This step's reads or writes for `config`, placeholders expanded."""
        out: list[str] = []
        for pattern in getattr(self, which):
            if "{group}" in pattern:  # eval-<group>: the model folders or answers files of its group
                group = self.name.removeprefix("eval-")
                out += [f"models/{folder}" if pattern == "{group}" else answers_file(name)
                        for name, folder, g in model_table(config) if g == group and (folder or pattern != "{group}")]
            elif "{method}" in pattern:
                out += [pattern.format(method=m) for m in config.preferences]
            elif "{round}" in pattern:
                out += [pattern.format(round=r) for r in range(1, config.stage1_rounds)]
            else:
                out.append(pattern)
        return out


def _eval_step(group: str, reads: tuple[str, ...] = ("{group}",), baseline: bool = False) -> Step:
    return Step(f"eval-{group}", evaluate_group(group), reads, ("{group}.answers",), baseline=baseline)


# In order. Each model is evaluated right after it is trained, and Stage II follows Stage I, so a
# model is needed only briefly: once every step that reads it is done, its folder may go (a new
# machine, a full disk) without anything being redone.
STEPS = [
    Step("weak-sft", weak_sft, (), ("models/weak",)),
    Step("weak-answers", weak_answers, ("models/weak",), ("weak_train2.jsonl",)),
    _eval_step("weak"),
    Step("icl-answers", icl_answers, ("weak_train2.jsonl",), ("icl_train2.jsonl",)),
    _eval_step("strong", reads=()),  # the untouched strong model: nothing of the run's
    Step("stage1-filter", stage1_filter, ("weak_train2.jsonl", "icl_train2.jsonl"), ("stage1/filter_stats.json",)),
    Step("stage1-sft", stage1_sft, ("stage1/filter_stats.json",), ("models/stage1", "models/stage1_round{round}")),
    _eval_step("stage1"),
    Step("stage2-samples", stage2_samples, ("models/stage1",), ("stage2_samples.jsonl",)),
    Step("stage2-pairs", stage2_pairs, ("weak_train2.jsonl", "stage2_samples.jsonl"), ("pairs.jsonl",)),
    Step("stage2-train", stage2_train, ("models/stage1", "pairs.jsonl"), ("models/stage2_{method}",)),
    _eval_step("stage2"),
    Step("full-weak-ft", full_weak_ft, ("weak_train2.jsonl",), ("models/full_weak_ft",), baseline=True),
    _eval_step("full-weak-ft", baseline=True),
    Step("ceiling", ceiling, (), ("models/ceiling",), baseline=True),
    _eval_step("ceiling", baseline=True),
    Step("metrics", metrics, (), ("metrics.json",), always=True),
]
STEP_NAMES = [s.name for s in STEPS]


def producers(config: ReasonConfig) -> dict[str, Step]:
    """Which step writes each file or folder of the run."""
    return {path: step for step in STEPS for path in step.paths("writes", config)}


def is_done(run: Run, step: Step) -> bool:
    """A step is done when everything it writes is there; a model folder that is gone counts as
    there once every step that reads it is done (its answers are kept in files)."""
    config = run.config
    for path in step.paths("writes", config):
        if run.file(path).exists():
            continue
        readers = [s for s in STEPS if path in s.paths("reads", config) and not (s.baseline and not config.baselines)]
        if not (path.startswith("models/") and readers and all(is_done(run, r) for r in readers)):
            return False
    return True


def unfinished_steps(run: Run) -> list[str]:
    """The steps still to run, in order (baselines switched off aside; `metrics` runs last)."""
    return [s.name for s in STEPS if not (s.baseline and not run.config.baselines) and not is_done(run, s)]


def read_run(run_dir: str | Path) -> Run:
    """A run folder as its config.json describes it, to read and report on (nothing is written)."""
    saved = Path(run_dir) / "config.json"
    if not saved.is_file():
        raise W2SError(f"{run_dir}: no metrics.json or config.json, so not a `w2s reason run` folder")
    return Run(build(ReasonConfig, {**read_json(saved), "output": str(run_dir)}, str(saved)))


def run_metrics(run_dir: str | Path) -> tuple[dict, list[str]]:
    """A run's metrics and the steps it has left: metrics.json once written; before that, the
    models evaluated so far, computed as the `metrics` step will (and not written), so a study of
    days can be read while it runs."""
    if (Path(run_dir) / "metrics.json").is_file():
        return read_metrics(Path(run_dir)), []
    run = read_run(run_dir)
    found, left = answer_metrics(run), unfinished_steps(run)
    if not found["models"]:
        raise W2SError(f"{run_dir}: no model has answered the test questions yet; steps left: {', '.join(left)} "
                       "(`w2s reason run` resumes)")
    return found, left


def missing_inputs(run: Run, step: Step) -> list[str]:
    """What `step` reads that is not in the run folder, as 'PATH (from the STEP step)'."""
    made_by = producers(run.config)
    return [f"{run.file(path)} (from the '{made_by[path].name}' step)" for path in step.paths("reads", run.config)
            if not run.file(path).exists()]


def open_run(config: ReasonConfig) -> Run:
    """The run folder for `config`; refuses a folder made with a different config, and a run
    whose files would land on its data or the response cache, before anything is opened."""
    out = Path(config.output)
    outputs = [out / f for f in ("config.json", "timings.jsonl", *(p for s in STEPS for p in s.paths("writes", config)))]
    plan_writes([f for f in outputs if f.suffix], folders=[out / "models", out / "eval"], reads=[config.data],
                cache=config.cache or default_cache_path(), option="output")  # models/* appear when trained
    run = Run(config)
    saved = run.file("config.json")
    current = {k: v for k, v in to_dict(config).items() if k not in ("output", "cache")}
    if saved.exists():
        before = json.loads(saved.read_text())
        try:  # an option added to w2s since the run started counts as its default, not as a change
            before = {k: v for k, v in to_dict(build(ReasonConfig, before, str(saved))).items()
                      if k not in ("output", "cache")}
        except (W2SError, TypeError, ValueError):
            pass  # a key w2s no longer knows: compare as saved, so it shows as changed
        changed = sorted(k for k in set(before) | set(current) if before.get(k) != current.get(k))
        if changed:
            raise W2SError(f"{run.path} was started with a different config (changed: {', '.join(changed)}); "
                           "use another output= or restore those settings")
    else:
        write_json(saved, current, indent=1)
    return run


def run_steps(config: ReasonConfig, only: str | None = None, until: str | None = None) -> Run:
    """Run every unfinished step in order (or just `only`); finished steps are skipped."""
    for name in (only, until):
        if name is not None and name not in STEP_NAMES:
            raise W2SError(f"unknown step '{name}' (steps: {', '.join(STEP_NAMES)})")
    run = open_run(config)
    try:
        return _run_steps(run, only, until)
    finally:
        for model, usage in run.usage.items():
            print(f"  usage, {usage_line(model, usage)}")


def _log_time(run: Run, step: str, seconds: float, outcome: str) -> None:
    """Append one attempt at a step (wall time, how it ended) to RUN_DIR/timings.jsonl.

    `w2s reason report` sums them per step: where the pipeline's time went. A process killed
    outright (SIGKILL, a session's end) records nothing for the step it was in.
    """
    row = {"step": step, "seconds": round(seconds, 1), "outcome": outcome,
           "ended_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with run.file("timings.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")


def _run_steps(run: Run, only: str | None, until: str | None) -> Run:
    config = run.config
    stopped: dict[str, str] = {}  # step -> why it trained nothing
    made_by = producers(config)
    for number, step in enumerate(STEPS, start=1):
        if only is not None and step.name != only:
            continue
        label = f"[{number}/{len(STEPS)}] {step.name}"
        after = {made_by[path].name for path in step.paths("reads", config) if path in made_by} & set(stopped)
        if step.baseline and not config.baselines:
            print(f"{label}: skipped (baselines: false)")
        elif after:
            stopped[step.name] = stopped[min(after)]
            print(f"{label}: skipped ({', '.join(sorted(after))} had nothing to train on)")
        elif not step.always and is_done(run, step):
            print(f"{label}: done already")
        elif missing := missing_inputs(run, step):
            raise W2SError(f"step '{step.name}' needs {'; '.join(missing)}: run that step first (or `w2s reason run`)")
        else:
            print(f"{label} ...")
            started, outcome = time.monotonic(), "failed"
            try:
                step.run(run)
                outcome = "done"
            except NothingToTrain as err:
                stopped[step.name], outcome = str(err), "nothing to train"
                print(f"{label}: {err}")
            finally:  # every attempt counts: a resumed step's total includes the interrupted attempts
                _log_time(run, step.name, time.monotonic() - started, outcome)
        if step.name == until:
            break
    if stopped:
        first = next(iter(stopped))
        raise W2SError(f"step '{first}' had nothing to train on, so {', '.join(stopped)} did not run; the "
                       f"other steps did. {stopped[first]}")
    return run
