#!/usr/bin/env bash
# Every step of results/wst_seed_protocol.md, in order. A step is skipped when its output exists;
# training resumes from its last checkpoint and evaluations take finished answers from the
# response cache, so rerunning the script continues a killed run.
#   R=RUN_DIR bash experiments/wst_seed.sh [STEP ...]   (R defaults to ~/w2s-runs/wst_seed; no STEP: all)
# Steps, in the order they run (amendments 3 and 4: most important first): train  gsm8k_256
#        organism_128  transfer_llamacpp  transfer_vllm  organism_256  organism_512  gsm8k_512  gsm8k_1024
# Needs `w2s engines install vllm` (GSM8K student, part 3) and `w2s engines install llamacpp` (part 3).
set -euo pipefail
cd "$(dirname "$0")/.."
R=${R:-$HOME/w2s-runs/wst_seed}
ORGANISM="rg:chain_sum?min_terms=3&max_terms=4&max_digits=2"
BRIEF="generic_instruction=Be brief: work it out in one or two short lines, then give the final answer in \boxed{}."
VLLM=(student.backend=vllm-server student.dtype=float32 student.concurrency=64 student.timeout_s=3600)  # amendment 3
HF=(student.backend=hf student.dtype=float32 student.batch_size=32)
mkdir -p "$R"
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

# Part 1: train the GSM8K teacher (outcome reward, k = 4), then evaluate it at its budget.
resume=""; compgen -G "$R/gsm8k_teacher/checkpoint-*" > /dev/null && resume="--resume"
run train "$R/gsm8k_teacher/final" \
  w2s wst train --config configs/wst/gsm8k_outcome.yaml --output "$R/gsm8k_teacher" $resume
run gsm8k_256 "$R/gsm8k_256/wst_eval.json" \
  w2s wst eval --task gsm8k --teacher "$R/gsm8k_teacher" --limit 300 --output "$R/gsm8k_256" \
  offset=500 student_max_tokens=256 self_instruction=false "$BRIEF" "${VLLM[@]}"

# Part 2's 128 column for the organism teacher, which is also part 3's hf row.
run organism_128 "$R/organism_128/wst_eval.json" \
  w2s wst eval --task "$ORGANISM" --teacher results/wst_organism_teacher --limit 200 --output "$R/organism_128" \
  offset=440 student_max_tokens=128 untrained_teacher=null self_instruction=false "$BRIEF" "${HF[@]}"

# Part 3: the organism teacher in front of the same model served by llama.cpp and by vLLM.
run transfer_llamacpp "$R/transfer_llamacpp/wst_eval.json" \
  w2s wst eval --task "$ORGANISM" --teacher results/wst_organism_teacher --limit 200 --output "$R/transfer_llamacpp" \
  offset=440 student_max_tokens=128 untrained_teacher=null self_instruction=false generic_instruction=null \
  student.backend=llamacpp student.extra.slots=16
run transfer_vllm "$R/transfer_vllm/wst_eval.json" \
  w2s wst eval --task "$ORGANISM" --teacher results/wst_organism_teacher --limit 200 --output "$R/transfer_vllm" \
  offset=440 student_max_tokens=128 untrained_teacher=null self_instruction=false generic_instruction=null "${VLLM[@]}"

# Part 2: the budget sweep (the first column of each is part 1's or part 3's; no untrained teacher
# beyond them). The organism sweep first (amendment 4): it carries part 2's test; the GSM8K one is
# descriptive since part 1 found no gain.
for tokens in 256 512; do
  run "organism_$tokens" "$R/organism_$tokens/wst_eval.json" \
    w2s wst eval --task "$ORGANISM" --teacher results/wst_organism_teacher --limit 200 --output "$R/organism_$tokens" \
    offset=440 student_max_tokens=$tokens untrained_teacher=null self_instruction=false "$BRIEF" "${HF[@]}"
done
for tokens in 512 1024; do
  run "gsm8k_$tokens" "$R/gsm8k_$tokens/wst_eval.json" \
    w2s wst eval --task gsm8k --teacher "$R/gsm8k_teacher" --limit 300 --output "$R/gsm8k_$tokens" \
    offset=500 student_max_tokens=$tokens untrained_teacher=null self_instruction=false "$BRIEF" "${VLLM[@]}"
done
