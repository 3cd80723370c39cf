"""HH-RLHF as a task, and reward models: prompt rendering, splits, a trained RM that ranks a planted preference."""

import gzip
import json
import math
import random

import pytest
from conftest import kill_training_at_step, shared_data_or_skip

from w2s.cli import main
from w2s.errors import W2SError
from w2s.scoring import score_responses
from w2s.tasks import get_task
from w2s.tasks.hh_rlhf import parse_dialogue, split_pair

DIALOGUE = ("\n\nHuman: what are some pranks with a pen i can do?\n\nAssistant: Are you looking for practical "
            "joke ideas?\n\nHuman: yep")


def test_a_real_dialogue_renders_as_exact_chat_turns():
    data = shared_data_or_skip() / "hh_rlhf" / "harmless-base-test.jsonl.gz"
    with gzip.open(data, "rt") as handle:
        first = json.loads(handle.readline())
    prompt, chosen, rejected = split_pair(first["chosen"], first["rejected"], "row 1")
    turns = get_task("hh_rlhf").messages(prompt)
    assert [t["role"] for t in turns] == ["user", "assistant", "user", "assistant", "user"]
    assert turns[0] == {"role": "user", "content": "what are some pranks with a pen i can do?"}
    assert turns[-1] == {"role": "user", "content": "okay some of these do not have anything to do with pens"}
    assert chosen.startswith("No, sorry!  All of these involve a pen") and rejected.startswith("There are lots of")


def test_splits_are_disjoint_by_prompt_and_rows_that_cannot_be_asked_are_skipped(tmp_path, monkeypatch, capsys):
    rows = []
    for i in range(60):
        prompt = f"\n\nHuman: question {i % 50}?"  # ten prompts appear twice
        rows.append({"chosen": f"{prompt}\n\nAssistant: good {i}", "rejected": f"{prompt}\n\nAssistant: bad {i}"})
    rows.append({"chosen": "\n\nAssistant: no human turn", "rejected": "\n\nAssistant: none"})  # cannot be asked
    folder = tmp_path / "hh_rlhf"
    folder.mkdir()
    with gzip.open(folder / "harmless-base-test.jsonl.gz", "wt") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in rows)
    monkeypatch.setenv("W2S_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    task = get_task("hh_rlhf")
    splits = {s: task.load(s) for s in ("rm_train", "rm_test", "train", "validation", "test")}
    assert sum(map(len, splits.values())) == 60 and "1 of 61 rows skipped" in capsys.readouterr().out.splitlines()[0]
    prompts = {s: {e.question for e in v} for s, v in splits.items()}
    assert all(not prompts[a] & prompts[b] for a in prompts for b in prompts if a < b)
    assert [len(p) for p in prompts.values()] == [20, 5, 10, 3, 12]  # shares of 50 distinct prompts (rounded)
    first = splits["test"][0]
    assert first.answer.startswith("good") and first.rejected.startswith("bad")


def test_bad_rows_and_parameters_are_one_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"chosen": DIALOGUE + "\n\nAssistant: x"}) + "\n")
    with pytest.raises(W2SError, match=r"bad.jsonl:1: expected a non-empty string 'rejected'"):
        get_task("hh_rlhf").load("test", str(bad))
    with pytest.raises(W2SError, match="unknown subset 'nope'"):
        get_task("hh_rlhf?subset=nope")
    with pytest.raises(W2SError, match="expected a dialogue"):
        parse_dialogue("no turns at all")


POLITE = ["Thank you for asking, here is a careful answer.", "Happy to help, please be safe.",
          "Good question, let me explain kindly."]
RUDE = ["No. Go away.", "That is stupid, figure it out.", "Whatever, I do not care."]


def planted_preferences(path, n, seed):
    rng = random.Random(seed)
    with open(path, "w") as handle:
        for _ in range(n):
            prompt = f"\n\nHuman: Tell me about topic {rng.randint(0, 10_000)}, please."
            handle.write(json.dumps({"chosen": f"{prompt}\n\nAssistant: {rng.choice(POLITE)}",
                                     "rejected": f"{prompt}\n\nAssistant: {rng.choice(RUDE)}"}) + "\n")


def test_a_tiny_reward_model_learns_a_planted_preference_and_grades_open_ended_answers(tiny_model, tmp_path, capsys):
    data = tmp_path / "pairs"
    data.mkdir()
    planted_preferences(data / "rm_train.jsonl", 64, seed=1)
    planted_preferences(data / "rm_test.jsonl", 24, seed=2)
    out = tmp_path / "rm"
    assert main(["rm", "train", "--model", str(tiny_model), "--output", str(out), f"data={data}", "epochs=4",
                 "learning_rate=1e-3", "batch_size=8", "max_length=64", f"cache={tmp_path / 'c.sqlite'}"]) == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "rm_eval.json").read_text())
    assert result["train_pairs"] == 64 and result["eval_pairs"] == 24
    assert result["pairwise_accuracy"]["value"] >= 0.9, printed  # untrained, it is a coin flip
    assert result["last_loss"] < result["first_loss"]
    # `w2s rm check` gives any reward model the same held-out check (here from the cached scores)
    assert main(["rm", "check", "--model", str(out), f"data={data}", "--output", str(tmp_path / "check"),
                 "max_length=64", f"cache={tmp_path / 'c.sqlite'}"]) == 0
    check = json.loads((tmp_path / "check" / "rm_check.json").read_text())
    assert check["pairwise_accuracy"] == result["pairwise_accuracy"] and check["pairs"] == 24
    assert len((tmp_path / "check" / "scores.jsonl").read_text().splitlines()) == 24
    capsys.readouterr()
    (data / "unpaired.jsonl").write_text(json.dumps({"chosen": "\n\nHuman: hi\n\nAssistant: hello"}) + "\n")
    assert main(["rm", "check", "--model", str(out), f"data={data}", "split=unpaired"]) == 2
    assert "unpaired.jsonl:1: expected a non-empty string 'rejected'" in capsys.readouterr().err
    gsm = tmp_path / "gsm"  # a task without rejected replies: named in one line, before any model loads
    gsm.mkdir()
    (gsm / "rm_test.jsonl").write_text(json.dumps({"question": "What is 2 + 2?", "answer": "#### 4"}) + "\n")
    assert main(["rm", "check", "--model", str(out), "task=gsm8k", f"data={gsm}"]) == 2
    err = capsys.readouterr().err
    assert "task 'gsm8k' split 'rm_test' row" in err and "no rejected reply" in err and "Loading" not in err

    # the trained model is the task's grader: polite answers score above rude ones, through the one scoring path
    task = get_task(f"hh_rlhf?reward_model={out}")
    examples = task.load("rm_test", str(data))[:6]
    polite = score_responses(task, examples, [POLITE[i % 3] for i in range(6)])
    rude = score_responses(task, examples, [RUDE[i % 3] for i in range(6)])
    assert polite.accuracy.value > rude.accuracy.value and "score" in polite.rows[0]
    assert task.grader.model.scored == 12
    score_responses(task, examples, [POLITE[i % 3] for i in range(6)])
    assert task.grader.model.scored == 12  # scores come from the cache
    # a score is cached with its truncation length: a reply cut shorter is scored anew, not reused
    from w2s.cache import ResponseCache
    from w2s.reward_model import RewardModel

    cache = ResponseCache(tmp_path / "c.sqlite")
    chat, reply = task.messages(examples[0].question), POLITE[0] + " " + RUDE[0] * 5
    full, cut = RewardModel(out, cache=cache, max_length=64), RewardModel(out, cache=cache, max_length=16)
    assert full.score([chat], [reply]) != cut.score([chat], [reply]) and cut.scored == 1
    # a chat longer than max_length loses its oldest turns, not the reply: the grade still reads it
    long_chat = [{"role": ["user", "assistant"][i % 2], "content": f"Tell me more about topic {i}, please."}
                 for i in range(11)]
    polite_long, rude_long = full.score([long_chat] * 2, [POLITE[0], RUDE[0]])
    assert polite_long > rude_long
    # batches go longest first: every reply still gets its own score, in the order asked
    chats = [task.messages(e.question) for e in examples] + [long_chat]
    replies = [(POLITE + RUDE)[i % 6] * (1 + i % 4) for i in range(len(chats))]
    batched = RewardModel(out, cache=ResponseCache(tmp_path / "b.sqlite"), max_length=64, batch_size=3)
    alone = RewardModel(out, cache=ResponseCache(tmp_path / "a.sqlite"), max_length=64, batch_size=1)
    assert batched.score(chats, replies) == pytest.approx([alone.score([c], [r])[0] for c, r in zip(chats, replies, strict=True)],
                                                          abs=1e-4)


def test_a_killed_reward_model_training_resumes_from_its_checkpoint(tiny_model, tmp_path, monkeypatch, capsys):
    data = tmp_path / "pairs"
    data.mkdir()
    planted_preferences(data / "rm_train.jsonl", 16, seed=1)
    planted_preferences(data / "rm_test.jsonl", 4, seed=2)
    out = tmp_path / "rm"
    args = ["rm", "train", "--model", str(tiny_model), "--output", str(out), f"data={data}", "batch_size=4",
            "max_length=64", "save_steps=2", f"cache={tmp_path / 'c.sqlite'}"]
    with monkeypatch.context() as patch:
        kill_training_at_step(patch, 4, KeyboardInterrupt)  # inside step 4 of 4, after the checkpoint of step 2
        assert main(args) == 130  # Ctrl-C: w2s stops without a traceback
    assert not out.exists()
    assert main([*args, "gradient_checkpointing=true"]) == 0  # a memory setting: the run still resumes
    assert "resuming rm from checkpoint-2" in capsys.readouterr().out
    assert json.loads((out / "rm_eval.json").read_text())["train_pairs"] == 16


def test_a_model_that_is_not_a_reward_model_is_refused_in_one_line(tiny_model, tmp_path):
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    from w2s.reward_model import RewardModel

    config = AutoConfig.from_pretrained(tiny_model, num_labels=3)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(tmp_path / "classifier")
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(tmp_path / "classifier")
    with pytest.raises(W2SError, match="num_labels=1.*has 3"):
        RewardModel(tmp_path / "classifier", cache=None)
    with pytest.raises(W2SError, match="LlamaForCausalLM is not a reward model"):
        RewardModel(tiny_model, cache=None)  # a chat model's folder: its scoring head would be random


def test_the_judge_asks_both_orders_and_reads_ties():
    from w2s.judge import PairwiseJudge, parse_verdict, position_report, position_warning
    from w2s.students.scripted import ScriptedStudent

    def fair(prompt, _):  # prefers the polite reply wherever it is shown
        a = prompt.split("Reply A:")[1].split("Reply B:")[0]
        return "A" if "Polite" in a else "B" if "Polite" in prompt.split("Reply B:")[1] else "tie"

    chats = [[{"role": "user", "content": "hi"}]] * 3
    replies_a, replies_b = ["Polite one.", "Rude one.", "Rude two."], ["Rude one.", "Polite one.", "Rude three."]
    assert PairwiseJudge(ScriptedStudent(fair)).compare(chats, replies_a, replies_b).scores == [1.0, 0.0, 0.5]
    biased = PairwiseJudge(ScriptedStudent(lambda p, i: "A, clearly."))  # always the first shown: no signal
    judged = biased.compare(chats, replies_a, replies_b)
    assert judged.scores == [0.5, 0.5, 0.5] and judged.unreadable == 0
    report = position_report(judged.orders)  # named as position bias, not just as ties
    assert report == {"answers": {"first shown": 6, "second shown": 0, "tie": 0, "unreadable": 0},
                      "first_shown_share": 1.0}
    assert "100% of the judge's decisive answers picked the first-shown reply" in position_warning(report)
    fair_student, sent = ScriptedStudent(fair), []
    generate = fair_student._generate
    fair_student._generate = lambda requests, *rest: (sent.append(len(requests)), generate(requests, *rest))[1]
    fair_judge = PairwiseJudge(fair_student)
    fair_orders = fair_judge.compare(chats, replies_a, replies_b).orders
    # both orders of all pairs in one call (batches group the long prompts by length); pairs 1 and 2
    # are each other swapped, so 6 prompts are 4 different ones, each generated once
    assert sent == [4]
    assert position_report(fair_orders)["first_shown_share"] == 0.5  # 2 of 4 decisive answers
    assert position_warning(position_report(fair_orders)) is None
    assert [parse_verdict(t) for t in ["B.", " reply a is better", "Tie", "Neither", "**A**"]] == ["B", "A", "tie", None, "A"]
    with pytest.raises(W2SError, match="answered neither A, B nor tie in all 6"):
        PairwiseJudge(ScriptedStudent(lambda p, i: "I cannot decide"), ).compare(chats, replies_a, replies_b)


def test_the_probability_judge_cancels_position_bias_and_keeps_the_signal():
    """A judge that always answers "A", but less surely when the better reply is shown second:
    its verdicts are all ties; its order-averaged probabilities still rank the replies."""
    from w2s.judge import PairwiseJudge, position_report
    from w2s.students.scripted import ScriptedStudent

    def biased_logprob(prompt, target):
        first = prompt.split("Reply A:")[1].split("Reply B:")[0]
        margin = 3.0 if "Polite" in first else 1.0  # logp(A) - logp(B): always > 0, larger for content
        return (-0.1 if target == "A" else -0.1 - margin), 1

    chats = [[{"role": "user", "content": "hi"}]] * 2
    polite, rude = ["Polite one.", "Rude one."], ["Rude two.", "Polite two."]
    student = ScriptedStudent(lambda p, i: "A", logprob=biased_logprob)
    assert PairwiseJudge(student).compare(chats, polite, rude).scores == [0.5, 0.5]  # verdicts: position only
    judge = PairwiseJudge(student, mode="probability")
    generated = student.calls
    judged = judge.compare(chats, polite, rude)
    scores = judged.scores
    sigmoid = [1 / (1 + math.exp(-m)) for m in (3.0, 1.0)]
    assert scores[0] == pytest.approx((sigmoid[0] + 1 - sigmoid[1]) / 2) and scores[0] > 0.5  # polite shown as A
    assert scores[1] == pytest.approx((sigmoid[1] + 1 - sigmoid[0]) / 2) and scores[1] < 0.5  # polite shown as B
    assert position_report(judged.orders)["first_shown_share"] == 1.0  # the bias is still reported
    assert student.calls == generated and student.scored_pairs == 8  # no generation: 2 pairs x 2 orders x A, B
    pure = PairwiseJudge(ScriptedStudent(lambda p, i: "A", logprob=lambda p, t: (0.0 if t == "A" else -2.0, 1)),
                         mode="probability")
    assert pure.compare(chats, polite, rude).scores == [pytest.approx(0.5)] * 2  # a constant bias cancels exactly
    with pytest.raises(W2SError, match="judge mode: expected one of verdict, probability"):
        PairwiseJudge(student, mode="logits")


def test_wst_eval_on_an_open_ended_task_reports_scores_win_rates_and_the_judge(tmp_path, monkeypatch):
    from w2s.graders import Grade
    from w2s.students import StudentConfig
    from w2s.students.scripted import ScriptedStudent, register_script
    from w2s.tasks.hh_rlhf import RewardModelGrader
    from w2s.wst.evaluate import WSTEvalConfig, format_table, run_wst_eval

    scores = {"Polite reply.": 2.5, "Rude reply.": -1.0}
    monkeypatch.setattr(RewardModelGrader, "grade_batch",  # hand-made reward-model scores
                        lambda self, prompts, responses, golds: [Grade(None, False, None, False, scores[r])
                                                                 for r in responses])
    register_script("judge-polite", lambda model, prompt, i: "A" if "Polite" in prompt.split("Reply B:")[0] else "B")
    data = tmp_path / "pairs.jsonl"
    planted_preferences(data, 10, seed=3)
    student = ScriptedStudent(lambda prompt, _: "Polite reply." if "step by step" in prompt else "Rude reply.")
    summary = run_wst_eval(WSTEvalConfig(task="hh_rlhf", data=str(data), split="test", limit=10, untrained_teacher=None,
                                         self_instruction=False, output=str(tmp_path / "eval"),
                                         cache=str(tmp_path / "c.sqlite"),
                                         judge=StudentConfig(backend="scripted", model="judge",
                                                             extra={"script": "judge-polite"})), student=student)
    rows = {r["condition"]: r for r in summary["conditions"]}
    assert rows["no instruction"]["accuracy"]["value"] == -1.0 and rows["generic"]["accuracy"]["value"] == 2.5
    assert rows["generic"]["win_rate"]["value"] == 1.0 and (rows["generic"]["helped"], rows["generic"]["harmed"]) == (10, 0)
    assert rows["generic"]["mcnemar_p"] == pytest.approx(2 / 2**10)  # exact sign test, 10 wins of 10
    assert rows["generic"]["judge"]["win_rate"]["value"] == 1.0 and rows["generic"]["judge"]["wins"] == 10
    assert rows["generic"]["judge"]["first_shown_share"] == 0.5  # it followed content in both orders
    assert "generic: first 10, second 10, tie 0" in format_table(summary)
    assert summary["scalar"] and "win rate vs none" in format_table(summary)
    # the same evaluation with the probability judge: it reads log-probabilities, generates nothing
    register_script("lp-polite", lambda model, prompt, target: (
        0.0 if (target == "A") == ("Polite" in prompt.split("Reply B:")[0]) else -2.0, 1))
    again = run_wst_eval(WSTEvalConfig(task="hh_rlhf", data=str(data), split="test", limit=10, untrained_teacher=None,
                                       self_instruction=False, output=str(tmp_path / "eval_p"),
                                       cache=str(tmp_path / "c.sqlite"), judge_mode="probability",
                                       judge=StudentConfig(backend="scripted", model="judge",
                                                           extra={"script": "judge-polite", "logprob": "lp-polite"})),
                         student=student)
    judged = {r["condition"]: r for r in again["conditions"]}["generic"]["judge"]
    assert judged["mode"] == "probability" and judged["wins"] == 10
    assert judged["win_rate"]["value"] == pytest.approx(1 / (1 + math.exp(-2.0)))  # sure by 2 nats in both orders
    versus = [{"condition": "no instruction", "trained_better": 7, "trained_worse": 2, "mcnemar_p": 0.18}]
    assert "McNemar" not in format_table({**summary, "trained_teacher_vs": versus})  # scores: a sign test
    from w2s.wst.report import write_report

    report = write_report(tmp_path / "eval").read_text()
    assert "mean reward-model score" in report and "exact sign test" in report and "McNemar" not in report


def test_judge_check_measures_agreement_with_human_labels(tmp_path, capsys):
    from w2s.students.scripted import register_script

    data = tmp_path / "pairs.jsonl"
    planted_preferences(data, 12, seed=5)  # the chosen reply is always the polite one
    def polite(text):
        return any(word in text for word in ("Thank", "please", "kindly"))

    def judge_polite(model, prompt, i):  # prefers the polite reply wherever it is shown
        return "A" if polite(prompt.split("Reply A:")[1].split("Reply B:")[0]) else "B"

    register_script("judge-polite-2", judge_polite)
    register_script("judge-first", lambda model, prompt, i: "A")  # position bias only
    common = ["judge", "check", "--backend", "scripted", f"data={data}", "split=test", f"cache={tmp_path / 'c.sqlite'}"]
    assert main(common + ["--output", str(tmp_path / "good"), "judge.extra.script=judge-polite-2"]) == 0
    good = json.loads((tmp_path / "good" / "judge_check.json").read_text())
    assert good["agreement"]["value"] == 1.0 and (good["chosen_wins"], good["rejected_wins"]) == (12, 0)
    assert good["sign_p"] == pytest.approx(2 / 2**12) and "agreement with the human label 1.000" in capsys.readouterr().out
    assert main(common + ["judge.extra.script=judge-first"]) == 0
    printed = capsys.readouterr().out
    assert "agreement with the human label 0.500" in printed and "ties or order-dependent 12" in printed
    assert "first-shown reply 24, second-shown 0" in printed and "position, not content, decides" in printed
    # probability mode: the same position-only judge, but surer when the polite (chosen) reply is first
    register_script("lp-first", lambda model, prompt, target: (
        0.0 if target == "A" else -3.0 if polite(prompt.split("Reply A:")[1].split("Reply B:")[0]) else -1.0, 1))
    assert main(common + ["--mode", "probability", "judge.extra.script=judge-first", "judge.extra.logprob=lp-first",
                          "--output", str(tmp_path / "prob")]) == 0
    prob = json.loads((tmp_path / "prob" / "judge_check.json").read_text())
    assert prob["mode"] == "probability" and prob["agreement"]["value"] > 0.5 and prob["chosen_wins"] == 12
    assert "probability above 0.5 for the chosen reply 12" in capsys.readouterr().out
    verdicts = [json.loads(line) for line in (tmp_path / "good" / "verdicts.jsonl").read_text().splitlines()]
    assert {(v["chosen_first"], v["rejected_first"]) for v in verdicts} == {("A", "B")}  # each order's own answer
