#!/usr/bin/env bash
# Steps 2-4 of results/wst_organism_protocol.md (with its amendments 1-3: fp32, batch 20 in training, 32 in evaluation), as run.
# Each step is skipped when its output exists; step 2 resumes from its last checkpoint, and
# steps 3-4 take finished answers from the response cache, so rerunning continues a killed run.
#   R=RUN_DIR bash experiments/wst_organism.sh      (R defaults to ~/w2s-runs/organism_wst)
set -euo pipefail
cd "$(dirname "$0")/.."
R=${R:-$HOME/w2s-runs/organism_wst}
T="rg:chain_sum?min_terms=3&max_terms=4&max_digits=2"
mkdir -p "$R"
stamp() { echo "$(date -u +%FT%TZ) $* (w2s $(git rev-parse --short HEAD))" >> "$R/steps.log"; }

if [ ! -d "$R/teacher/final" ]; then
  resume=""; compgen -G "$R/teacher/checkpoint-*" > /dev/null && resume="--resume"
  stamp "step 2 start $resume"
  w2s wst train --config configs/wst/organism_chain_sum.yaml instruction.template=plain \
    --output "$R/teacher" $resume student.dtype=float32 teacher.bf16=false student.batch_size=20
  stamp "step 2 done"
fi
if [ ! -f "$R/eval/wst_eval.json" ]; then
  stamp "step 3 start"
  w2s wst eval --task "$T" --teacher "$R/teacher" --limit 400 --output "$R/eval" \
    student_max_tokens=128 student.dtype=float32 student.batch_size=32
  stamp "step 3 done"
fi
if [ ! -f "$R/eval_brief/wst_eval.json" ]; then
  stamp "step 4 start"
  w2s wst eval --task "$T" --teacher "$R/teacher" --limit 400 --output "$R/eval_brief" \
    student_max_tokens=128 student.dtype=float32 student.batch_size=32 untrained_teacher=null self_instruction=false \
    "generic_instruction=Be brief: work it out in one or two short lines, then give the final answer in \boxed{}."
  stamp "step 4 done"
fi
