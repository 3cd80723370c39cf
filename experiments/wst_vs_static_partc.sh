#!/usr/bin/env bash
# Part C of results/wst_vs_static_protocol.md (amendment 3), step C0: the validation pilot that
# picks the mixture. A step is skipped when its output exists; answers come from the response cache.
#   R=RUN_DIR [KEEP=FOLDER] bash experiments/wst_vs_static_partc.sh   (R defaults to ~/w2s-runs/wst_vs_static)
# Then the pilot rule picks the mixture:
#   python experiments/partc_pilot.py --run $R   (prints the kept datasets and the mixture's task string)
set -euo pipefail
cd "$(dirname "$0")/.."
R=${R:-$HOME/w2s-runs/wst_vs_static}
BRIEF="Be brief: work it out in one or two short lines, then give the final answer in \boxed{}."
STUDENT="student.model=qwen2.5-coder-0.5b-instruct student.backend=vllm-server student.dtype=float32
  student.concurrency=32 student.timeout_s=3600"
mkdir -p "$R"
if [ -n "${KEEP:-}" ]; then python experiments/keep_run.py restore "$KEEP" "$R"; fi
stamp() { echo "$(date -u +%FT%TZ) $* (w2s $(git rev-parse --short HEAD))" >> "$R/steps.log"; }
declare -A SPEC=(
  [chain_sum]="rg:chain_sum?min_terms=3&max_terms=4&max_digits=2" [leg_counting]="rg:leg_counting"
  [letter_counting]="rg:letter_counting" [spell_backward]="rg:spell_backward" [word_sorting]="rg:word_sorting"
  [basic_arithmetic]="rg:basic_arithmetic")
for name in chain_sum leg_counting letter_counting spell_backward word_sorting basic_arithmetic; do
  out="$R/pilot_$name"
  [ -e "$out/wst_eval.json" ] && continue
  stamp "pilot_$name start"
  # shellcheck disable=SC2086
  w2s wst eval --task "${SPEC[$name]}" --split validation --limit 32 --output "$out" seed=0 student_max_tokens=256 \
    untrained_teacher=null self_instruction=false "generic_instruction=$BRIEF" $STUDENT
  stamp "pilot_$name done"
done
