"""Cross-entropy with optional label smoothing, and its gradient, for one sample (host side)."""

from __future__ import annotations

import numpy as np


def cross_entropy(logits: np.ndarray, label: int, smoothing: float = 0.0) -> tuple[float, np.ndarray]:
    """Returns (loss, d loss / d logits); the target is (1 - s) one-hot + s / C, as in PyTorch."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max()
    logp = z - np.log(np.exp(z).sum())
    target = np.full(z.shape, smoothing / z.size)
    target[label] += 1.0 - smoothing
    return float(-(target * logp).sum()), np.exp(logp) - target
