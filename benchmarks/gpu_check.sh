#!/usr/bin/env bash
# The CUDA path of w2s, checked on a lent GPU machine in one short run (under 8 minutes):
#   bash benchmarks/gpu_check.sh            (writes $OUT/gpu_check.json, or ./gpu_check.json)
# The machine's Python has torch, transformers, accelerate and peft but no internet: TRL and w2s's
# other small dependencies come as wheels in benchmarks/wheels/ (fetch them here first with
#   pip download --no-deps -d benchmarks/wheels trl==1.16.* datasets math-verify latex2sympy2_extended \
#       reasoning-gym gguf openai aiohttp ...
# and carry that folder; it is not committed). w2s itself is installed from this checkout
# without its dependencies. On a machine without CUDA it says "no CUDA" and exits 0 (CI runs it so).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_FILE="${OUT:-.}/gpu_check.json"
if [ -d benchmarks/wheels ] && ! python3 -c "import trl" 2>/dev/null; then
  python3 -m pip install --quiet --no-index --find-links benchmarks/wheels benchmarks/wheels/*.whl || true
fi
python3 -c "import w2s" 2>/dev/null || python3 -m pip install --quiet --no-deps -e . >/dev/null
timeout 480 python3 benchmarks/gpu_check.py --out "$OUT_FILE"
