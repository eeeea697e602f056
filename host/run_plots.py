"""The host run's figures (matplotlib, numpy; no torch): training curves, accuracy vs executed MACs
against a dense run's MACs, and the patches the TA-Selector kept on a few test images."""

from __future__ import annotations

import math
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # matplotlib is imported where a plot is drawn
    from matplotlib.figure import Figure

REMOVED_TINT = np.array([0.15, 0.35, 0.85])  # blue wash over pruned patches (as model/plots.py)


def _pyplot() -> ModuleType:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Figure, path: Path) -> Path:
    from host.atomic_io import atomic_write

    plt = _pyplot()
    atomic_write(Path(path), lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)
    return Path(path)


def plot_curves(history: list[dict], path: Path) -> Path | None:
    if not history:
        return None
    plt = _pyplot()
    epochs = [e["epoch"] for e in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.plot(epochs, [e["loss"] for e in history], marker="o")
    a.set_xlabel("epoch"), a.set_ylabel("training loss")
    b.plot(epochs, [100 * e["train_acc"] for e in history], marker="o", label="train")
    b.plot(epochs, [100 * e["test_acc"] for e in history], marker="o", label="test")
    b.set_xlabel("epoch"), b.set_ylabel("accuracy (%)"), b.legend()
    fig.tight_layout()
    return _save(fig, path)


def plot_accuracy_vs_cost(history: list[dict], dense_macs_per_epoch: float, path: Path) -> Path | None:
    """Test accuracy against cumulative executed MACs; the dashed line marks what a dense run
    (all examples, all tokens, all connections) executes by the same epoch."""
    if not history:
        return None
    plt = _pyplot()
    cum = np.cumsum([e["macs"] for e in history]) / 1e9
    dense = dense_macs_per_epoch * np.arange(1, len(history) + 1) / 1e9
    acc = [100 * e["test_acc"] for e in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(cum, acc, marker="o", label="this run (Tri-Level)")
    ax.plot(
        dense,
        acc,
        marker="x",
        linestyle="--",
        color="grey",
        label="the same epochs at a dense run's cost (x only: not a dense run's accuracy)",
    )
    ax.set_xlabel("cumulative training MACs executed by the engine (G)")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_kept_patches(
    images: np.ndarray, kept: list[list[np.ndarray]], blocks: list[int], n_patch: int, path: Path
) -> Path | None:
    """images [B, C, H, W]; kept[b][stage]: original token ids kept after that selector (0 = [CLS])."""
    if len(images) == 0 or not blocks:
        return None
    from matplotlib.patches import Patch

    plt = _pyplot()
    side = math.isqrt(n_patch)
    fig, axes = plt.subplots(
        len(images), 1 + len(blocks), squeeze=False, figsize=(1.9 * (1 + len(blocks)), 1.9 * len(images) + 0.5)
    )
    for row, picture in enumerate(images):
        shown = picture.mean(axis=0) if picture.shape[0] != 3 else np.moveaxis(picture, 0, -1)
        shown = (shown - shown.min()) / max(float(np.ptp(shown)), 1e-12)
        rgb = np.repeat(shown[..., None], 3, axis=-1) if shown.ndim == 2 else shown
        axes[row, 0].imshow(rgb)
        axes[row, 0].set_title("input" if row == 0 else "", fontsize=8)
        for col, block in enumerate(blocks, start=1):
            mask = np.zeros(n_patch, dtype=bool)
            ids = np.asarray(kept[row][col - 1]) if col - 1 < len(kept[row]) else np.arange(n_patch + 1)
            mask[ids[ids > 0] - 1] = True
            scale = rgb.shape[0] // side
            removed = np.kron(~mask.reshape(side, side), np.ones((scale, scale), dtype=bool))
            tinted = rgb.copy()
            tinted[removed] = 0.35 * tinted[removed] + 0.65 * REMOVED_TINT
            axes[row, col].imshow(tinted)
            if row == 0:
                axes[row, col].set_title(f"after block {block}", fontsize=8)
            axes[row, col].set_xlabel(f"{int(mask.sum())}/{n_patch} kept", fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.legend(
        handles=[
            Patch(facecolor="white", edgecolor="black", label="kept patch"),
            Patch(facecolor=REMOVED_TINT, label="pruned patch (tinted)"),
        ],
        loc="lower center",
        ncol=2,
        fontsize=8,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return _save(fig, path)
