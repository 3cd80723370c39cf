"""`benchmarks/gpu_check.sh` on a machine without CUDA (every CI machine): one clear line, a summary
that says so, exit 0. On a GPU machine the same script runs the CUDA checks (benchmarks/README.md)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_without_cuda_the_gpu_check_says_so_and_succeeds(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the script would run its real checks")
    env = {**os.environ, "OUT": str(tmp_path), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines() == [f"no CUDA: torch {torch.__version__} sees no GPU here; nothing to check"]
    assert json.loads((tmp_path / "gpu_check.json").read_text()) == {"torch": torch.__version__, "cuda": False,
                                                                     "checks": []}


def test_the_gpu_checks_cover_what_the_issue_lists(tmp_path):
    """The list of checks itself (no GPU needed to build it): every CUDA path named in issue #47."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gpu_check
    finally:
        sys.path.pop(0)
    names = [name for name, _ in gpu_check.checks(tmp_path / "m", tmp_path / "d.jsonl", tmp_path, gpus=2)]
    assert names == ["generate on cuda, float32", "generate on cuda, bfloat16", "score on cuda, float32",
                     "score on cuda, bfloat16", "student on cuda has separate compute (the WST trainer overlaps it)",
                     "WST train, 1 GRPO step on cuda", "WST eval of that teacher on cuda",
                     "reasoning: weak SFT, answers, Stage I SFT, Stage II DPO on cuda",
                     "accelerate launch, 2 processes: WST train"]
    assert all("cuda" in " ".join(command) for _, command in gpu_check.checks(tmp_path / "m", tmp_path / "d", tmp_path, 2))


def test_every_w2s_command_of_the_gpu_check_parses_and_builds_its_config(tmp_path):
    """A GPU is lent rarely and for minutes: a check whose flags the command line no longer takes
    would waste it. Each w2s command line of the checks goes through the real parser and builds
    its config (no model loads)."""
    from w2s.cli import build_parsers
    from w2s.config import config_from_flags

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gpu_check
    finally:
        sys.path.pop(0)
    commands = [c for _, c in gpu_check.checks(tmp_path / "m", tmp_path / "d.jsonl", tmp_path, gpus=2)
                if "w2s.cli" in c]
    assert len(commands) == 6
    for command in commands:
        args, extra = build_parsers().parse_known_args(command[command.index("w2s.cli") + 1:])
        assert not [a for a in extra if a.startswith("-") or "=" not in a], command
        config_from_flags(args.command_object.settings(), vars(args), args.config, [*args.overrides, *extra])
