"""`accelerate launch` with two CPU processes: WST training and a reasoning training step.

Each process answers its own share of the step's instructions (no question is sent twice, the
response cache is shared), the step's counts add up over both processes, and the run's files
and the final model are written once. Launched as users launch it; on a CPU-only machine
accelerate's multi-process launcher runs the processes with the gloo backend.
"""

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent


def answer_and_record(model: str, prompt: str, index: int) -> str:
    """Right on multiples of 3; appends the answering process's pid to $W2S_TEST_CALLS."""
    n = int(re.search(r"What is (\d+)", prompt).group(1))
    with open(os.environ["W2S_TEST_CALLS"], "a") as handle:
        handle.write(f"{os.getpid()}\n")
    return f"The answer is {2 * n}." if n % 3 == 0 else "The answer is 0."


def launch(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
           "W2S_TEST_CALLS": str(tmp_path / "calls.txt"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(port), "-m", "w2s.cli", *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_wst_train_with_two_processes(tiny_model, gsm_file, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    lines = gsm_file.read_text().splitlines()
    (data / "train.jsonl").write_text("\n".join(lines) + "\n")
    (data / "test.jsonl").write_text("\n".join(lines[:4]) + "\n")
    out = tmp_path / "run"
    result = launch(["wst", "train", f"data={data}", "train_split=train", "train_limit=8", "steps=2",
                     "questions_per_step=2", "num_generations=2", "save_steps=1", f"output={out}",
                     f"cache={tmp_path / 'c.sqlite'}", f"teacher.model={tiny_model}", "teacher.lora=false",
                     "instruction.max_tokens=8", "reward.kind=absolute", "student.backend=scripted",
                     "student.model=s", "student.extra.script=test_distributed:answer_and_record"], tmp_path)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]  # one writer
    assert all(r["helped"] + r["harmed"] + r["unchanged"] == 4 for r in rows)  # 2 questions x 2 instructions
    calls = (tmp_path / "calls.txt").read_text().split()
    assert len(set(calls)) == 2  # both processes asked the student
    # each process: its 2 instructions per step plus one no-instruction baseline per step's question
    assert len(calls) == 2 * (4 + 2)
    assert (out / "final" / "instruction_protocol.json").is_file() and (out / "checkpoint-2").is_dir()
    assert result.stdout.count("teacher trained:") == 1


def test_reason_training_step_with_two_processes(tiny_model, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for name, numbers in [("train_1", range(1, 9)), ("train_2", range(9, 13)), ("test", range(20, 24))]:
        rows = [{"id": f"q{n}", "question": f"What is {n} plus {n}?", "answer": f"{n} + {n} = {2 * n}\n#### {2 * n}"}
                for n in numbers]
        (data / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    launch(["reason", "weak-sft", f"data={data}", f"weak_model={tiny_model}", f"strong_model={tiny_model}",
            f"output={out}", f"cache={tmp_path / 'c.sqlite'}", "sft.epochs=1", "sft.max_length=96",
            "sft.batch_size=2"], tmp_path)
    log = json.loads((out / "models" / "weak" / "training_log.json").read_text())
    assert log["processes"] == 2 and log["rows"] == 8
    assert not (out / "models" / "weak.partial").exists()
    assert (out / "models" / "weak" / "model.safetensors").is_file()
