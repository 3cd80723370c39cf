"""The two plots w2s reports draw: metrics over training steps, and accuracies with intervals.

matplotlib with the Agg backend, so reports render on headless machines.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from w2s.jsonl import current_umask
from w2s.stats import Estimate


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    """Save through a new temporary name renamed into place: never through a link at `path`."""
    import os
    import tempfile

    path = Path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".w2s-partial")
    os.close(fd)
    try:
        fig.savefig(name, dpi=120, format=path.suffix.lstrip(".") or "png")
        os.chmod(name, 0o666 & ~current_umask())
        os.replace(name, path)
    finally:
        if os.path.exists(name):
            os.unlink(name)


def rolling_mean(values: Sequence[float], window: int) -> list[float]:
    """Trailing mean over `window` points (shorter at the start), to see a trend through RL noise."""
    out = []
    for i in range(len(values)):
        chunk = values[max(0, i - window + 1): i + 1]
        out.append(sum(chunk) / len(chunk))
    return out


def training_curves(steps: Sequence[int], panels: dict[str, dict[str, Sequence[float]]], path: Path,
                    title: str) -> Path:
    """One panel per entry of `panels` ({panel title: {series label: values per step}})."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.8), squeeze=False)
    window = max(1, len(steps) // 8)
    for ax, (name, series) in zip(axes[0], panels.items(), strict=True):
        for label, values in series.items():
            line, = ax.plot(steps, values, alpha=0.35, marker="." if len(steps) < 40 else None)
            if window > 1:
                ax.plot(steps, rolling_mean(values, window), color=line.get_color(),
                        label=f"{label} (mean of last {window})")
            else:
                line.set_alpha(1.0)
                line.set_label(label)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path


def accuracy_bars(estimates: dict[str, Estimate], path: Path, title: str,
                  reference_lines: dict[str, float] | None = None, ylabel: str = "accuracy (95% CI)") -> Path:
    """A bar per model/condition with its 95% interval; optional labelled horizontal lines."""
    plt = _pyplot()
    names = list(estimates)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(names) + 2), 4.2))
    values = [estimates[n].value for n in names]
    errors = [[max(0.0, estimates[n].value - estimates[n].low) for n in names],
              [max(0.0, estimates[n].high - estimates[n].value) for n in names]]
    ax.bar(range(len(names)), values, yerr=errors, capsize=4, color="#4C72B0", alpha=0.85)
    highs = [max(estimates[n].high, estimates[n].value) for n in names]
    span = (max(highs) - min(0.0, *values)) or 1.0
    for i, (v, top) in enumerate(zip(values, highs, strict=True)):  # above the interval, not on its whisker
        ax.text(i, top + 0.01 * span, f"{v:.3f}", ha="center", va="bottom", fontsize=8)
    ax.set_ylim(top=max(highs) + 0.08 * span)
    for (label, y), style in zip((reference_lines or {}).items(), ["--", ":", "-."] * 3, strict=False):
        ax.axhline(y, color="gray", linestyle=style, label=f"{label} ({y:.3f})")
    if reference_lines:
        ax.legend(fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path
