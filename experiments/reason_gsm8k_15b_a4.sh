#!/usr/bin/env bash
# The 1.5B study's Part 1 in the order of amendment 4 (results/reason_gsm8k_15b_protocol.md): after
# eval-stage1, the two baselines, then Stage II. Each step runs in its own process (up to 3 tries;
# a killed step resumes from its files, checkpoints and the response cache), from the worktree
# pinned at the study's commit; then the pinned runner does the rest (Stage II, metrics, and Part
# 2's gsm8k_512), restarted when it stops (its pipeline holds a trained 1.5B's memory, fixed
# on main after the pin). Operational only: no step changes.
#   WT=PINNED_WORKTREE R=RUN_DIR KEEP=FOLDER bash experiments/reason_gsm8k_15b_a4.sh
# Needs `w2s` on PATH, `w2s engines install vllm`, and W2S_DATA_DIR if the data is not beside the repo.
set -uo pipefail
: "${WT:?WT=the worktree at the pinned commit of the study}" "${R:?R=the run folder}"
export R KEEP="${KEEP:-}" PYTHONPATH="$WT/src"
HERE="$(cd "$(dirname "$0")" && pwd)"  # keep_samples.py is newer than the pin
cd "$WT"
mkdir -p "$R"
if [ -n "$KEEP" ]; then python experiments/keep_run.py restore "$KEEP" "$R"; fi
( while sleep 30; do echo "$(date -u +%FT%TZ) $(free -m | awk '/^Mem:/ {print $3}') MB used"; done ) >> "$R/memory.log" &
trap 'kill $! 2>/dev/null' EXIT
stamp() { echo "$(date -u +%FT%TZ) $* (w2s $(git rev-parse --short HEAD))" >> "$R/steps.log"; }
for step in weak-sft weak-answers eval-weak icl-answers eval-strong stage1-filter stage1-sft eval-stage1 \
            full-weak-ft eval-full-weak-ft ceiling eval-ceiling; do
  for attempt in 1 2 3; do
    if w2s reason "$step" --config configs/reason/gsm8k_qwen05_qwen15.yaml output="$R/reason" 2>&1 | tee "$R/step.log"; then
      grep -q "done already" "$R/step.log" || stamp "$step done (amendment 4 order)"; break
    fi
    stamp "$step stopped (attempt $attempt)"; sleep 30
  done
done
# Stage II's samples kept from an earlier machine count only if the retrained Stage I model is the
# same bit for bit (experiments/keep_samples.py)
if [ -n "$KEEP" ] && [ -d "$R/reason/models/stage1" ] && [ ! -f "$R/reason/stage2_samples.jsonl" ]; then
  python "$HERE/keep_samples.py" restore "$R/reason/models/stage1" "${KEEP%/}_samples/stage1_model" | tee -a "$R/steps.log"
fi
for attempt in 1 2 3 4 5 6 7 8; do
  bash experiments/reason_gsm8k_15b.sh && exit 0
  stamp "runner stopped (attempt $attempt); restarting"; sleep 30
done
exit 1
