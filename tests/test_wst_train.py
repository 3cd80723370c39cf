"""WST training end to end on a tiny teacher: it runs through TRL's GRPOTrainer, logs, resumes."""

import json
import re

import pytest

from w2s.errors import W2SError
from w2s.students.scripted import ScriptedStudent
from w2s.wst.protocol import InstructionProtocol
from w2s.wst.rewards import RewardConfig
from w2s.wst.train import TeacherConfig, WSTTrainConfig, train_teacher, training_examples


def student():
    def respond(prompt, _):
        n = int(re.search(r"What is (\d+)", prompt).group(1))
        return f"The answer is {2 * n}." if n % 3 == 0 else "The answer is 0."
    return ScriptedStudent(respond)


def data_folder(gsm_file, tmp_path, n_test=4):
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    lines = gsm_file.read_text().splitlines()
    (folder / "train.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "test.jsonl").write_text("\n".join(lines[:n_test]) + "\n")
    return folder


def config(tiny_model, gsm_file, tmp_path, **overrides):
    settings = dict(data=str(data_folder(gsm_file, tmp_path)), train_split="train", train_limit=8,
                    steps=2, questions_per_step=2, num_generations=2, save_steps=1,
                    output=str(tmp_path / "run"), cache=str(tmp_path / "c.sqlite"),
                    teacher=TeacherConfig(model=str(tiny_model), lora=False),
                    instruction=InstructionProtocol(max_tokens=8))
    return WSTTrainConfig(**{**settings, **overrides})


def test_train_runs_logs_and_resumes(tiny_model, gsm_file, tmp_path):
    # an earlier attempt killed before its first checkpoint left rows: a fresh start drops them
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.jsonl").write_text(json.dumps({"step": 1, "reward": 9.0}) + "\n")
    out = train_teacher(config(tiny_model, gsm_file, tmp_path), student=student())
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and rows[0]["reward"] != 9.0
    assert all(r["helped"] + r["harmed"] + r["unchanged"] == 4 for r in rows)
    for r in rows:  # the time split covers the step: teacher, student, grading, reward overhead, update
        parts = ["teacher_generation_s", "student_s", "grading_s", "reward_other_s", "update_s"]
        assert r["time/teacher_generation_s"] > 0 and r["time/update_s"] > 0
        assert r["time/student_overlapped_s"] == 0  # an in-process student never answers in the background
        assert abs(sum(r[f"time/{p}"] for p in parts) - r["time/step_s"]) < 0.01
    assert (out / "checkpoint-2").is_dir() and (out / "final" / "config.json").is_file()
    assert all(0 <= r["frac_reward_zero_std"] <= 1 for r in rows)  # GRPO groups that gave no gradient
    assert all(r["student_retries"] == 0 and r["student_empty"] == 0 for r in rows)
    # the run's card (and its final teacher's) says what was trained against what, not TRL's "[None]"
    for card in (out / "README.md", out / "final" / "README.md"):
        text = card.read_text()
        assert "[None]" not in text and f"base_model: {tiny_model}" in text
        assert "2 steps x 2 questions x 2 instructions, from 8" in text and "cut at 256" in text
    # the protocol is saved with the student's answer budget the run trained at
    assert InstructionProtocol.saved_with(out / "final") == InstructionProtocol(max_tokens=8, student_max_tokens=256)
    assert InstructionProtocol.saved_with(out) == InstructionProtocol(max_tokens=8, student_max_tokens=256)
    assert len(json.loads((out / "train_ids.json").read_text())) == 8
    with pytest.raises(W2SError, match="already holds checkpoints"):
        train_teacher(config(tiny_model, gsm_file, tmp_path), student=student())
    # a run killed after logging a step past its last checkpoint: that step's row must not stay twice
    with open(out / "metrics.jsonl", "a") as handle:
        handle.write(json.dumps({"step": 3, "reward": 9.0}) + "\n")
    # resume to a later step: continues from checkpoint-2 rather than starting over
    # (with the teacher's activations recomputed in the backward pass: same steps, less memory)
    out = train_teacher(config(tiny_model, gsm_file, tmp_path, steps=3,
                               teacher=TeacherConfig(model=str(tiny_model), lora=False, gradient_checkpointing=True)),
                        resume=True, student=student())
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3] and rows[-1]["reward"] != 9.0


def test_training_questions_never_overlap_the_eval_split(gsm_file, tmp_path):
    cfg = WSTTrainConfig(data=str(data_folder(gsm_file, tmp_path, n_test=5)), train_split="train",
                         eval_split="test", train_limit=None)
    kept = training_examples(cfg)
    assert len(kept) == 7 and not {e.id for e in kept} & {f"q{i}" for i in range(1, 6)}
    same_file = WSTTrainConfig(data=str(gsm_file), train_split="train", eval_split="test")
    with pytest.raises(W2SError, match="every question of split 'train' is also in eval split 'test'"):
        training_examples(same_file)


@pytest.mark.parametrize("kind", ["relative", "absolute", "likelihood"])
def test_the_teacher_learns_what_helps_the_student(tiny_model, gsm_file, tmp_path, kind):
    """The student does well only when the instruction contains KEYWORD; GRPO must find that out.

    Outcome kinds: the student is right only then. Likelihood: the gold solution is likelier then.
    """
    keyword = "the"

    def instructed(prompt: str) -> bool:
        return keyword in prompt.split("What is")[0]

    def respond(prompt, _):
        n = int(re.search(r"What is (\d+)", prompt).group(1))
        return f"The answer is {2 * n}." if instructed(prompt) else "The answer is 0."

    def logprob(prompt, target):
        return (-1.0 if instructed(prompt) else -2.0) * 4, 4

    cfg = config(tiny_model, gsm_file, tmp_path, steps=80, questions_per_step=4, num_generations=4,
                 learning_rate=5e-3, save_steps=1000, seed=0, reward=RewardConfig(kind=kind))
    cfg.instruction = InstructionProtocol(template="{question}", max_tokens=6)  # keyword out of the student's view
    out = train_teacher(cfg, student=ScriptedStudent(respond, logprob=logprob))
    rewards = [json.loads(line)["reward"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    first, last = sum(rewards[:10]) / 10, sum(rewards[-10:]) / 10
    print(f"{kind}: mean reward first 10 steps {first:.3f}, last 10 steps {last:.3f}")
    assert last > first + 0.25, "the teacher did not learn to use the keyword"


def test_missing_trl_hooks_fail_loudly():
    from w2s.wst.train import _timed

    class NotGRPO:
        def _generate(self):
            return None

    with pytest.raises(W2SError, match="no _generate_and_score_completions, _calculate_rewards"):
        _timed(NotGRPO)


def test_batching_hint_names_the_batch_size_that_takes_one_pass(capsys):
    """4 questions x (4 instructions + 1 baseline) = 20 answers: batch 16 takes two passes, 20 one."""
    from w2s.students import StudentConfig
    from w2s.wst.train import _batching_hint

    config = WSTTrainConfig(questions_per_step=4, num_generations=4, student=StudentConfig(batch_size=16))
    _batching_hint(config, processes=1)
    out = capsys.readouterr().out
    assert "up to 20 answers" in out and "in 2 batches" in out and "student.batch_size=20 in one" in out
    config.student.batch_size = 20
    _batching_hint(config, processes=1)
    assert capsys.readouterr().out == ""
    # 2 sampled answers each, shared by 2 processes: 4 x 5 x 2 / 2 = 20 per process, one pass at 20
    config.reward = RewardConfig(student_samples=2, student_temperature=0.7)
    _batching_hint(config, processes=2)
    assert capsys.readouterr().out == ""
    _batching_hint(config, processes=1)
    assert "up to 40 answers" in capsys.readouterr().out


def test_a_protocol_budget_that_contradicts_the_runs_budget_is_refused(tiny_model, gsm_file, tmp_path):
    with pytest.raises(ValueError, match=r"instruction.student_max_tokens \(64\) differs from student_max_tokens \(256\)"):
        config(tiny_model, gsm_file, tmp_path, instruction=InstructionProtocol(student_max_tokens=64))
    same = config(tiny_model, gsm_file, tmp_path, student_max_tokens=64, instruction=InstructionProtocol(student_max_tokens=64))
    assert same.protocol.student_max_tokens == 64


def test_a_served_student_answers_baselines_while_the_teacher_writes(tiny_model, gsm_file, tmp_path, monkeypatch):
    """With a student on compute of its own, each step's no-instruction answers are asked for before
    the teacher generates (they do not depend on it) and the rewards are exactly those of the
    in-process path; the time split still adds up to the step."""
    import threading

    import w2s.wst.train as train_module

    events: list = []
    baselines_asked = threading.Event()

    class Served(ScriptedStudent):
        separate_compute = True

        def _generate(self, requests, params, on_result):
            roles = sorted(r.prompt[0]["role"] for r in requests)  # "system": an instruction
            if set(roles) == {"user"}:
                baselines_asked.set()
            events.append(roles)
            super()._generate(requests, params, on_result)

    base = student()
    served = Served(base.respond)
    served.prefetching = False  # the in-process run first: nothing to wait for
    real = train_module._timed

    def recording(trainer_cls):
        cls = real(trainer_cls)

        class Recording(cls):
            def _generate(self, *args, **kwargs):
                # the prefetch runs in a thread: give it time to reach the student, never forever
                events.append("teacher" if baselines_asked.wait(5 if served.prefetching else 0) else "teacher alone")
                baselines_asked.clear()
                return super()._generate(*args, **kwargs)
        return Recording

    monkeypatch.setattr(train_module, "_timed", recording)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    local = train_teacher(config(tiny_model, gsm_file, tmp_path / "a", output=str(tmp_path / "a" / "run")),
                          student=base)
    events.clear()
    baselines_asked.clear()
    served.prefetching = True
    remote = train_teacher(config(tiny_model, gsm_file, tmp_path / "b", output=str(tmp_path / "b" / "run")),
                           student=served)
    rows = [json.loads(line) for line in (remote / "metrics.jsonl").read_text().splitlines()]
    expected = [json.loads(line) for line in (local / "metrics.jsonl").read_text().splitlines()]
    assert [r["reward"] for r in rows] == [r["reward"] for r in expected]
    # each step: both questions' baselines (no instruction) asked, in one call, while the teacher
    # writes; then the 4 instructed answers
    assert events.count("teacher") == 2 and "teacher alone" not in events
    assert [e for e in events if e != "teacher"] == [["user", "user"], ["system"] * 4] * 2
    for r in rows:
        parts = ["teacher_generation_s", "student_s", "grading_s", "reward_other_s", "update_s"]
        assert abs(sum(r[f"time/{p}"] for p in parts) - r["time/student_overlapped_s"] - r["time/step_s"]) < 0.01


def test_each_steps_student_retries_are_logged(tiny_model, gsm_file, tmp_path):
    """A served student that fails the first request for each question: every retry shows in
    the step that paid for it, so a slow step is explained in metrics.jsonl."""
    from fake_openai_server import FakeOpenAIServer

    from w2s.students.openai_compat import OpenAIStudent

    with FakeOpenAIServer(lambda prompt, attempt: ("500", 0) if attempt == 0 else ("ok", 0)) as server:
        served = OpenAIStudent("m", server.url, max_retries=2, backoff_base_s=0.01, backoff_cap_s=0.02)
        out = train_teacher(config(tiny_model, gsm_file, tmp_path), student=served)
        failed = len(server.attempts)  # one failure per distinct question (the key the server counts)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(r["student_retries"] >= 1 for r in rows)  # each step asked about new questions
    assert sum(r["student_retries"] for r in rows) == failed == served.stats.retries
