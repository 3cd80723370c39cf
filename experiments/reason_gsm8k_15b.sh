#!/usr/bin/env bash
# Every step of results/reason_gsm8k_15b_protocol.md (issue #45), in order. A step is skipped when
# its output exists; `w2s reason run` skips its finished steps and resumes training from the last
# checkpoint; answers come back from the response cache, so rerunning continues a killed run.
#   R=RUN_DIR KEEP=FOLDER bash experiments/reason_gsm8k_15b.sh [STEP ...]   (R defaults to ~/w2s-runs/reason_15b)
# Steps, in the order they run (amendment 2): organism_128  organism_512  reason  gsm8k_512
# KEEP (optional): the study's saved small files (results/reason_gsm8k_15b of the repository's main),
# restored into R first, so a new machine continues the study (experiments/keep_run.py).
# Needs `w2s engines install vllm`.
set -euo pipefail
cd "$(dirname "$0")/.."
R=${R:-$HOME/w2s-runs/reason_15b}
STRONG=qwen2.5-coder-1.5b-instruct
ORGANISM="rg:chain_sum?min_terms=3&max_terms=4&max_digits=2"
BRIEF="generic_instruction=Be brief: work it out in one or two short lines, then give the final answer in \boxed{}."
VLLM=(student.model=$STRONG student.backend=vllm-server student.dtype=bfloat16 student.concurrency=32
      student.timeout_s=3600)
mkdir -p "$R"
if [ -n "${KEEP:-}" ]; then python experiments/keep_run.py restore "$KEEP" "$R"; fi
# The machine's memory in use every 30 s (with the time), to read each step's peak against steps.log.
( while sleep 30; do echo "$(date -u +%FT%TZ) $(free -m | awk '/^Mem:/ {print $3}') MB used"; done ) >> "$R/memory.log" &
trap 'kill $! 2>/dev/null' EXIT
stamp() { echo "$(date -u +%FT%TZ) $* (w2s $(git rev-parse --short HEAD))" >> "$R/steps.log"; }
ALL="$*"

run() {  # run STEP OUTPUT COMMAND...: skipped when OUTPUT exists or STEP was not asked for
  local step=$1 output=$2; shift 2
  if [ -n "$ALL" ] && [[ " $ALL " != *" $step "* ]]; then return; fi
  if [ -e "$output" ]; then return; fi
  stamp "$step start"
  "$@"
  stamp "$step done"
}

# Part 2: transfer of the committed teachers (trained against the 0.5B) to the 1.5B student.
for tokens in 128 512; do
  run "organism_$tokens" "$R/organism_$tokens/wst_eval.json" \
    w2s wst eval --task "$ORGANISM" --teacher results/wst_organism_teacher --limit 300 --output "$R/organism_$tokens" \
    offset=640 student_max_tokens=$tokens untrained_teacher=null self_instruction=false "$BRIEF" "${VLLM[@]}"
done
# Part 1: progressive weak-to-strong reasoning, every step of the method and its baselines.
run reason "$R/reason/metrics.json" \
  w2s reason run --config configs/reason/gsm8k_qwen05_qwen15.yaml output="$R/reason"

# Part 2, the GSM8K teacher (after Part 1 since amendment 2: order only).
run gsm8k_512 "$R/gsm8k_512/wst_eval.json" \
  w2s wst eval --task gsm8k --teacher results/wst_gsm8k_outcome_teacher --limit 300 --output "$R/gsm8k_512" \
  offset=500 student_max_tokens=512 untrained_teacher=null self_instruction=false "$BRIEF" "${VLLM[@]}"
