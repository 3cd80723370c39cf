"""The model organism's selection rule (results/reason_protocol.md), applied to candidate run folders.

Each folder is one candidate's `w2s reason` run on the validation split (weak-sft, evaluate, and
ceiling where the floor is in the band). Candidates are given in the protocol's order:

- a candidate qualifies when its weak floor (strict accuracy) lies in [0.15, 0.45] and its
  strong ceiling (strict accuracy) is at least 0.25 above the floor;
- among the qualifying ones, the floor closest to 0.30 wins; ties go to the earlier candidate.

    python experiments/reason_pick.py RUN_DIR [RUN_DIR ...]

Prints one line per candidate and the pick. `--needs-ceiling` prints the one folder whose ceiling
could still change the pick and is not measured yet (nothing when none): the in-band candidate
closest to 0.30 (ties to the earlier) among those not yet ruled out, as long as no candidate at
least as close already qualifies. Ceilings are then trained in that order and stop at the first
candidate that qualifies: a farther one could not win, so training it would change nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

BAND = (0.15, 0.45)
MARGIN = 0.25
TARGET = 0.30


def strict(metrics: dict, model: str) -> float | None:
    row = metrics["models"].get(model)
    if row is None:
        return None
    return (row.get("strict_accuracy") or row["accuracy"])["value"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--needs-ceiling", action="store_true")
    args = parser.parse_args()
    qualifying, unmeasured = [], []
    for order, run in enumerate(args.runs):
        metrics_file = Path(run) / "metrics.json"
        if not metrics_file.is_file():
            if not args.needs_ceiling:
                print(f"{run}: not measured (no metrics.json)")
            continue
        metrics = json.loads(metrics_file.read_text())
        floor, ceiling = strict(metrics, "weak floor"), strict(metrics, "strong ceiling")
        in_band = floor is not None and BAND[0] <= floor <= BAND[1]
        ok = in_band and ceiling is not None and round(ceiling - floor, 9) >= MARGIN  # k/n rates: no float fuzz
        if ok:
            qualifying.append((abs(floor - TARGET), order, run))
        if in_band and ceiling is None:
            unmeasured.append((abs(floor - TARGET), order, run))
        if not args.needs_ceiling:
            print(f"{run} ({metrics['task']}): floor {floor}, ceiling {ceiling}: "
                  + ("qualifies" if ok else "in the band, ceiling not measured" if in_band and ceiling is None
                     else "does not qualify"))
    if args.needs_ceiling:
        if unmeasured and (not qualifying or min(unmeasured) < min(qualifying)):
            print(min(unmeasured)[2])
        return
    best_open = min(unmeasured) if unmeasured else None
    if qualifying and (best_open is None or min(qualifying) < best_open):
        print(f"pick: {min(qualifying)[2]}"
              + (f" (in-band ceilings not trained, as they could not change the pick: "
                 f"{', '.join(r for *_, r in sorted(unmeasured))})" if unmeasured else ""))
    elif best_open is not None:
        print(f"pick: undecided (train the ceiling of {best_open[2]} next)")
    else:
        print("pick: none qualifies")

if __name__ == "__main__":
    main()
