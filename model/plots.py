"""Figures from training runs (matplotlib, Agg backend: no display needed).

    python -m model.plots cost RUN_DIR [RUN_DIR ...] --out cost.png [--x macs|time] [--labels a,b]
    python -m model.plots overlay RUN_DIR/selections.npz --out overlay.png [--images 4]

``cost``: test top-1 against cumulative training cost (executed MACs or wall time), one line per run,
in the style of the paper's Figure 1. ``overlay``: the patches each TA-Selector kept, drawn over the
input images (from ``--record-selection N`` runs of model.train).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

COST_AXES = {
    "macs": ("cum_macs", "training cost (executed MACs, forward + backward)"),
    "time": ("cum_time_s", "training wall time (s)"),
}


def load_history(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "log.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r}: not a training run folder (no log.jsonl)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_accuracy_vs_cost(
    runs: dict[str, list[dict]], out: str | Path, x: str = "macs", title: str | None = None
) -> Path:
    """``runs``: label -> history (log.jsonl records). Only evaluated epochs are drawn."""
    if x not in COST_AXES:
        raise ValueError(f"x={x!r}; choose one of {sorted(COST_AXES)}")
    key, xlabel = COST_AXES[x]
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, history in runs.items():
        points = [(r[key], r["test_top1"]) for r in history if r.get("test_top1") is not None]
        if points:
            cost, acc = zip(*points)
            ax.plot(cost, [100 * a for a in acc], marker="o", markersize=3, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test top-1 (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, out)


def _save(fig: Figure, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


REMOVED_TINT = (0.15, 0.35, 0.85)  # blue wash over pruned patches


def kept_patch_mask(tokens: np.ndarray, n_patch: int) -> np.ndarray:
    """[B, K] kept token indices (original positions, 0 = [CLS]) -> [B, n_patch] bool of kept patches."""
    mask = np.zeros((tokens.shape[0], n_patch), dtype=bool)
    for row, kept in enumerate(tokens):
        patches = kept[kept > 0] - 1
        mask[row, patches] = True
    return mask


def plot_selection_overlay(selections: str | Path, out: str | Path, images: int = 4) -> Path:
    """One row per image: the input, then the patches kept after each TA-Selector (removed ones tinted)."""
    data = np.load(selections)
    pictures = data["images"][:images]
    n_patch = int(data["n_patch"])
    blocks = sorted(int(name[len("block") : -len("_tokens")]) for name in data.files if name.endswith("_tokens"))
    if not blocks:
        raise ValueError(f"{str(selections)!r} holds no selections (was the run's tri_level on?)")
    side = math.isqrt(n_patch)
    fig, axes = plt.subplots(
        len(pictures), 1 + len(blocks), squeeze=False, figsize=(1.8 * (1 + len(blocks)), 1.8 * len(pictures))
    )
    for row, picture in enumerate(pictures):
        shown = picture.mean(axis=0) if picture.shape[0] != 3 else np.moveaxis(picture, 0, -1)
        shown = (shown - shown.min()) / max(float(np.ptp(shown)), 1e-12)
        cmap = "gray" if shown.ndim == 2 else None
        axes[row, 0].imshow(shown, cmap=cmap)
        axes[row, 0].set_title("input" if row == 0 else "", fontsize=8)
        for col, block in enumerate(blocks, start=1):
            kept = kept_patch_mask(data[f"block{block}_tokens"][row : row + 1], n_patch)[0].reshape(side, side)
            scale = shown.shape[0] // side
            removed = np.kron(~kept, np.ones((scale, scale), dtype=bool))
            rgb = np.repeat(shown[..., None], 3, axis=-1) if shown.ndim == 2 else shown.copy()
            rgb[removed] = 0.35 * rgb[removed] + 0.65 * np.array(REMOVED_TINT)
            axes[row, col].imshow(rgb)
            if row == 0:
                axes[row, col].set_title(f"after block {block}\n{kept.sum()}/{n_patch} kept", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return _save(fig, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.plots", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    cost = sub.add_parser("cost", help="accuracy vs training cost for a set of runs")
    cost.add_argument("runs", nargs="+")
    cost.add_argument("--out", required=True)
    cost.add_argument("--x", default="macs", choices=sorted(COST_AXES))
    cost.add_argument("--labels", default=None, help="comma-separated, one per run (default: folder names)")
    overlay = sub.add_parser("overlay", help="the patches each TA-Selector kept")
    overlay.add_argument("selections")
    overlay.add_argument("--out", required=True)
    overlay.add_argument("--images", type=int, default=4)
    args = parser.parse_args(argv)
    if args.what == "cost":
        labels = args.labels.split(",") if args.labels else [Path(r).name for r in args.runs]
        if len(labels) != len(args.runs):
            raise ValueError(f"--labels: {len(labels)} labels for {len(args.runs)} runs")
        print(plot_accuracy_vs_cost({label: load_history(r) for label, r in zip(labels, args.runs)}, args.out, args.x))
    else:
        print(plot_selection_overlay(args.selections, args.out, args.images))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
