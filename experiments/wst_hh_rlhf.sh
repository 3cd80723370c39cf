#!/usr/bin/env bash
# Steps 1-4 of results/wst_hh_rlhf_protocol.md (with its amendment 1: a fresh start, fp32), as run.
# Each step is skipped when its output exists; rm train and wst train resume from their last
# checkpoints, and the judge and the evaluation take finished answers from the response cache,
# so rerunning continues a killed run.
#   R=RUN_DIR bash experiments/wst_hh_rlhf.sh      (R defaults to ~/w2s-runs/hh)
set -euo pipefail
cd "$(dirname "$0")/.."
R=${R:-$HOME/w2s-runs/hh}
mkdir -p "$R"
stamp() { echo "$(date -u +%FT%TZ) $* (w2s $(git rev-parse --short HEAD))" >> "$R/steps.log"; }
passes() { python3 -c "import json,sys; sys.exit(json.load(open('$1'))['pairwise_accuracy']['low'] <= 0.5)"; }

if [ ! -f "$R/rm/rm_eval.json" ]; then
  stamp "step 1 start"; w2s rm train --output "$R/rm"; stamp "step 1 done"
fi
RM="$R/rm"
if ! passes "$R/rm/rm_eval.json"; then
  if [ ! -f "$R/rm3/rm_eval.json" ]; then
    stamp "step 1 fallback start"; w2s rm train --output "$R/rm3" epochs=3 learning_rate=1e-4; stamp "step 1 fallback done"
  fi
  passes "$R/rm3/rm_eval.json" || { stamp "step 1: neither reward model passed the gate: stop (null)"; exit 0; }
  RM="$R/rm3"
fi
if [ ! -f "$R/judge_check/judge_check.json" ]; then
  stamp "step 2 start"
  w2s judge check --model qwen2.5-0.5b-instruct judge.dtype=float32 --output "$R/judge_check"
  stamp "step 2 done"
fi
if [ ! -d "$R/teacher/final" ]; then
  resume=""; compgen -G "$R/teacher/checkpoint-*" > /dev/null && resume="--resume"
  stamp "step 3 start $resume"
  w2s wst train --config configs/wst/hh_rlhf.yaml --output "$R/teacher" $resume \
    --task "hh_rlhf?reward_model=$RM" student.dtype=float32 student.batch_size=20
  stamp "step 3 done"
fi
if [ ! -f "$R/eval/wst_eval.json" ]; then
  stamp "step 4 start"
  w2s wst eval --task "hh_rlhf?reward_model=$RM" --teacher "$R/teacher" --limit 300 --output "$R/eval" \
    student_max_tokens=128 student.dtype=float32 "generic_instruction=Reply helpfully, honestly and harmlessly." \
    judge.model=qwen2.5-0.5b-instruct judge.dtype=float32
  stamp "step 4 done"
fi
