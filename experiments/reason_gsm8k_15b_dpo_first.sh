#!/usr/bin/env bash
# The 1.5B study's note of 2026-12-08 00:30 UTC (results/reason_gsm8k_15b_protocol.md), operational:
# once `stage2-train` has saved the DPO model, stop the runner, answer the 300 test questions with
# that model (the `eval-stage2` step's own code for one model: the step itself waits for both of its
# models), then restart the runner, which trains ORPO and evaluates it. Nothing a step computes changes.
#   WT=PINNED_WORKTREE R=RUN_DIR KEEP=FOLDER LOG=RUNNER_LOG bash experiments/reason_gsm8k_15b_dpo_first.sh
# Start it with the runner's environment (VLLM_CPU_NUM_OF_RESERVED_CPU=0, W2S_DATA_DIR, PATH with w2s).
set -uo pipefail
: "${WT:?}" "${R:?}" "${KEEP:?}" "${LOG:?}"
HERE="$(cd "$(dirname "$0")" && pwd)"
stamp() { echo "$(date -u +%FT%TZ) $* (w2s $(git -C "$WT" rev-parse --short HEAD))" >> "$R/steps.log"; }
until [ -d "$R/reason/models/stage2_dpo" ]; do sleep 10; done  # the trainer renames its .partial folder when done
pkill -f reason_gsm8k_15b_a4.sh; pkill -f experiments/reason_gsm8k_15b.sh; pkill -f "reason run"; sleep 5
stamp "DPO model saved; runner stopped to evaluate it before ORPO trains (note of 2026-12-08 00:30 UTC)"
cd "$WT" && PYTHONPATH="$WT/src" python - "$R/reason" <<'PY'
import sys

from w2s.config import build, load_yaml
from w2s.jsonl import write_jsonl
from w2s.reason.pipeline import ReasonConfig, answers_file, open_run

data = load_yaml("configs/reason/gsm8k_qwen05_qwen15.yaml")
data["output"] = sys.argv[1]
run = open_run(build(ReasonConfig, data, "configs/reason/gsm8k_qwen05_qwen15.yaml"))
name = "Stage II (DPO)"
target = run.file(answers_file(name))
if not target.exists():
    rows = run.zero_shot(run.model("stage2_dpo"), run.split("test"), f"test: {name}")
    write_jsonl(target, rows)
    print(f"  {name}: {sum(r['correct'] for r in rows)} of {len(rows)} right")
PY
stamp "DPO model evaluated (eval-stage2's code for one model); runner restarted"
cd "$HERE/.." && nohup env WT="$WT" R="$R" KEEP="$KEEP" bash experiments/reason_gsm8k_15b_a4.sh >> "$LOG" 2>&1 &
