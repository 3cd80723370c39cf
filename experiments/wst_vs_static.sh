#!/usr/bin/env bash
# Every step of results/wst_vs_static_protocol.md (issue #46), in order. A step is skipped when its
# output exists; answers come back from the response cache, so rerunning continues a killed run.
#   R=RUN_DIR bash experiments/wst_vs_static.sh [STEP ...]   (R defaults to ~/w2s-runs/wst_vs_static)
# Steps, in the order they run (amendment 1): gepa_05b  eval_05b_128  eval_05b_512  gepa_15b  eval_15b_128  eval_15b_512
# then, with PARTB=1 (Part B, after its amendment records the pick): partb_train  partb_05b_128 ... partb_15b_512
# and, with PARTC=1 (Part C, after the pilot note): partc_train  partc_gepa  partc_eval
# Needs `w2s engines install vllm`.
set -euo pipefail
cd "$(dirname "$0")/.."
R=${R:-$HOME/w2s-runs/wst_vs_static}
ORGANISM="rg:chain_sum?min_terms=3&max_terms=4&max_digits=2"
TEACHER=results/wst_organism_teacher
BRIEF="Be brief: work it out in one or two short lines, then give the final answer in \boxed{}."
declare -A STUDENT=(
  [05b]="student.model=qwen2.5-coder-0.5b-instruct student.backend=vllm-server student.dtype=float32"
  [15b]="student.model=qwen2.5-coder-1.5b-instruct student.backend=vllm-server student.dtype=bfloat16")
COMMON="student.concurrency=32 student.timeout_s=3600"
REFLECTION="reflection.model=qwen2.5-coder-1.5b-instruct reflection.backend=vllm-server reflection.dtype=float32
  reflection.extra.max_model_len=8192"
mkdir -p "$R"
# KEEP (optional): the study's saved small files (results/wst_vs_static of the repository's main),
# restored into R first, so a new machine continues the study (experiments/keep_run.py).
if [ -n "${KEEP:-}" ]; then python experiments/keep_run.py restore "$KEEP" "$R"; fi
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

for s in 05b 15b; do  # each student's GEPA, then its two cells (amendment 1)
  # shellcheck disable=SC2086
  run "gepa_$s" "$R/gepa_$s/optimized_instruction.json" \
    w2s wst optimize --task "$ORGANISM" --budget-from-teacher "$TEACHER" --output "$R/gepa_$s" split=validation \
    train_questions=32 val_questions=32 minibatch=4 student_max_tokens=128 "seed_instruction=Let's think step by step." \
    ${STUDENT[$s]} $COMMON $REFLECTION
  for tokens in 128 512; do
    # shellcheck disable=SC2086
    run "eval_${s}_$tokens" "$R/eval_${s}_$tokens/wst_eval.json" \
      w2s wst eval --task "$ORGANISM" --teacher "$TEACHER" --limit 300 --output "$R/eval_${s}_$tokens" offset=640 \
      student_max_tokens=$tokens self_instruction=false "generic_instruction=$BRIEF" \
      "static.candidates=[\"Let's think step by step.\"]" static.from_untrained=8 static.optimized="$R/gepa_$s" \
      static.split=validation static.questions=64 ${STUDENT[$s]} $COMMON
  done
done

# Part B: a teacher paid for what it adds beyond the best static instruction of the 0.5B / 128 cell
# (picked on validation in eval_05b_128; recorded in a dated amendment before training starts, so
# these steps run only with PARTB=1). Trained as the organism teacher, against the 0.5B in fp32
# (vLLM, the same answers), the teacher in fp32; evaluated in the four cells of Part A, with the
# same static candidates (their answers come back from the cache, so each cell's pick is Part A's).
if [ "${PARTB:-0}" = 1 ]; then
  BASE=$(python - "$R/eval_05b_128/wst_eval.json" <<'PICK'
import json, sys
static = json.load(open(sys.argv[1]))["static"]
print(next(c["instruction"] for c in static["candidates"] if c["condition"] == static["best"]))
PICK
)
  resume=""; compgen -G "$R/partb_teacher/checkpoint-*" > /dev/null && resume="--resume"
  # shellcheck disable=SC2086
  run partb_train "$R/partb_teacher/final" \
    w2s wst train --config configs/wst/organism_chain_sum.yaml --output "$R/partb_teacher" $resume \
    instruction.template=plain "instruction.base_instruction=$BASE" teacher.bf16=false ${STUDENT[05b]} $COMMON
  for s in 05b 15b; do
    for tokens in 128 512; do
      # shellcheck disable=SC2086
      run "partb_${s}_$tokens" "$R/partb_${s}_$tokens/wst_eval.json" \
        w2s wst eval --task "$ORGANISM" --teacher "$R/partb_teacher" --limit 300 --output "$R/partb_${s}_$tokens" \
        offset=640 student_max_tokens=$tokens self_instruction=false "generic_instruction=$BRIEF" \
        "static.candidates=[\"Let's think step by step.\"]" static.from_untrained=8 static.optimized="$R/gepa_$s" \
        static.split=validation static.questions=64 ${STUDENT[$s]} $COMMON
    done
  done
fi

# Part C (amendment 3): the mixture the pilot rule picks (experiments/wst_vs_static_partc.sh, then
# experiments/partc_pilot.py), recorded in a dated note before C1 starts, so these steps run only
# with PARTC=1. Every step at 256 tokens, the 0.5B student in fp32 (vLLM), the teacher in fp32.
if [ "${PARTC:-0}" = 1 ]; then
  MIX=$(python experiments/partc_pilot.py --run "$R" | sed -n 's/^mixture: //p')
  [ -n "$MIX" ] || { echo "Part C: the pilot has not picked a mixture (python experiments/partc_pilot.py --run $R)"; exit 1; }
  resume=""; compgen -G "$R/partc_teacher/checkpoint-*" > /dev/null && resume="--resume"
  # C1: the teacher, trained as the organism teacher on the mixture's train_1 (2,000 student answers)
  # shellcheck disable=SC2086
  run partc_train "$R/partc_teacher/final" \
    w2s wst train --config configs/wst/organism_chain_sum.yaml --task "$MIX" --output "$R/partc_teacher" $resume \
    instruction.template=plain student_max_tokens=256 teacher.bf16=false ${STUDENT[05b]} $COMMON
  # C2: GEPA on the mixture's validation split, the same 2,000 answers
  # shellcheck disable=SC2086
  run partc_gepa "$R/partc_gepa/optimized_instruction.json" \
    w2s wst optimize --task "$MIX" --budget-from-teacher "$R/partc_teacher" --output "$R/partc_gepa" split=validation \
    train_questions=32 val_questions=32 minibatch=4 student_max_tokens=256 "seed_instruction=Let's think step by step." \
    ${STUDENT[05b]} $COMMON $REFLECTION
  # C3: 300 test questions, every condition, the best static picked on 64 validation questions
  # shellcheck disable=SC2086
  run partc_eval "$R/partc_eval/wst_eval.json" \
    w2s wst eval --task "$MIX" --teacher "$R/partc_teacher" --limit 300 --output "$R/partc_eval" \
    student_max_tokens=256 self_instruction=false "generic_instruction=$BRIEF" \
    "static.candidates=[\"Let's think step by step.\"]" static.from_untrained=8 static.optimized="$R/partc_gepa" \
    static.split=validation static.questions=64 ${STUDENT[05b]} $COMMON
fi
