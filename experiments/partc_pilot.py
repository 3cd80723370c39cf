"""Part C's pilot rule (results/wst_vs_static_protocol.md, amendment 3), applied to its answers.

    python experiments/partc_pilot.py --run RUN_DIR

A candidate is kept if the 0.5B's no-instruction accuracy on its 32 validation questions is
between 0.05 and 0.85; the first four kept, in the registered order, make the mixture (equal
weights); fewer than three kept means Part C is not runnable with this student.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ORDER = ["chain_sum", "leg_counting", "letter_counting", "spell_backward", "word_sorting", "basic_arithmetic"]
CONFIGS = {"chain_sum": "{min_terms: 3, max_terms: 4, max_digits: 2}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    run = parser.parse_args().run
    kept = []
    print("| dataset | no instruction | brief line | kept |\n| --- | --- | --- | --- |")
    for name in ORDER:
        summary_file = run / f"pilot_{name}" / "wst_eval.json"
        if not summary_file.is_file():
            print(f"| {name} | not run | | |")
            continue
        rows = {r["condition"]: r["accuracy"]["value"] for r in json.loads(summary_file.read_text())["conditions"]}
        keep = 0.05 <= rows["no instruction"] <= 0.85 and len(kept) < 4
        kept += [name] if keep else []
        print(f"| {name} | {rows['no instruction']:.3f} | {rows.get('generic', float('nan')):.3f} | {'yes' if keep else 'no'} |")
    if len(kept) < 3:
        print(f"kept {len(kept)}: Part C is not runnable with this student")
        return
    parts = ", ".join(f"{{name: {n}, weight: 1" + (f", config: {CONFIGS[n]}" if n in CONFIGS else "") + "}"
                      for n in kept)
    print(f"mixture: rg:composite?datasets=[{parts}]")


if __name__ == "__main__":
    main()
