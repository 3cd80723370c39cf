"""The registered tests of the model organism run (results/reason_protocol.md, part 2), from its
per-question answer files.

`w2s reason evaluate` already tests every Stage I/II model against full weak FT. This adds what
the protocol registers beyond that: Stage II (DPO) against Stage I (last round), and the primary
test repeated on strict correctness (a marked final answer), as a robustness check.

    python experiments/reason_tests.py RUN_DIR

Prints one line per comparison: discordant counts (better / worse for the second model), the
exact two-sided McNemar p-value, and the verdict rule of the protocol for the primary test.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from w2s.jsonl import read_jsonl
from w2s.reason.pipeline import answers_file
from w2s.stats import mcnemar_exact

ALPHA = 0.05


def outcomes(run: Path, name: str, field: str) -> list[bool]:
    rows = list(read_jsonl(run / answers_file(name)))
    return [bool(r.get(field)) for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    args = parser.parse_args()
    run = Path(args.run_dir)
    models = json.loads((run / "metrics.json").read_text())["models"]
    stage1 = [m for m in models if m == "Stage I" or m.startswith("Stage I (")]  # not "Stage II ..."
    last_stage1 = stage1[-1]
    comparisons = [("full weak FT", "Stage II (DPO)", "correct", "primary"),
                   ("full weak FT", "Stage II (DPO)", "strict_correct", "primary, strict (robustness)"),
                   ("full weak FT", "Stage II (ORPO)", "correct", "secondary"),
                   *[("full weak FT", m, "correct", "secondary") for m in stage1],
                   (last_stage1, "Stage II (DPO)", "correct", "secondary")]
    for base, model, field, kind in comparisons:
        if base not in models or model not in models:
            print(f"{kind}: {model} vs {base}: not evaluated")
            continue
        better, worse, p = mcnemar_exact(outcomes(run, base, field), outcomes(run, model, field))
        line = f"{kind}: {model} vs {base} ({field}): {better} better / {worse} worse, McNemar p={p:.4g}"
        if kind == "primary":
            verdict = ("the method's claim holds here" if p < ALPHA and better > worse
                       else "the method fails here" if p < ALPHA
                       else "no detectable difference")
            line += f" -> {verdict}"
        print(line)


if __name__ == "__main__":
    main()
