"""The embedded digits data set (scikit-learn's 8x8 handwritten digits), numpy only.

The same preprocessing as model/data.py's digits (so both sides train on identical inputs):
pixels / 16, bilinear upscaling to img_size (half-pixel centres, as torch's
F.interpolate(mode="bilinear", align_corners=False)), the fixed stratified split (seed 0, 20 %
test), normalisation with the training split's mean and standard deviation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # scikit-learn is imported where the data are loaded (the board image may lack it)
    from sklearn.utils import Bunch

DIGITS_SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.2
DIGITS_MAX_VALUE = 16.0


def _load_digits() -> Bunch:
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # the board image may lack scikit-learn
        raise ImportError("the digits data set comes from scikit-learn: pip install scikit-learn") from exc
    return load_digits()


def _bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in] interpolation weights, half-pixel centres, edges clamped."""
    src = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
    lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    w = np.zeros((n_out, n_in), dtype=np.float64)
    np.add.at(w, (np.arange(n_out), lo), 1.0 - frac)
    np.add.at(w, (np.arange(n_out), hi), frac)
    return w


def upscale(images: np.ndarray, img_size: int) -> np.ndarray:
    """[N, h, w] -> [N, 1, img_size, img_size] float32, bilinear."""
    images = np.asarray(images, dtype=np.float64)
    wy = _bilinear_matrix(images.shape[1], img_size)
    wx = _bilinear_matrix(images.shape[2], img_size)
    out = np.einsum("yi,nij,xj->nyx", wy, images, wx)
    return out[:, None].astype(np.float32)


def digits_split(
    seed: int = DIGITS_SPLIT_SEED, test_fraction: float = DIGITS_TEST_FRACTION
) -> tuple[np.ndarray, np.ndarray]:
    """The fixed stratified split: (train_idx, test_idx), both sorted."""
    from sklearn.model_selection import train_test_split

    targets = _load_digits().target
    train_idx, test_idx = train_test_split(
        np.arange(len(targets)), test_size=test_fraction, stratify=targets, random_state=seed
    )
    return np.sort(train_idx), np.sort(test_idx)


def load_digits_split(img_size: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Returns (x_train, y_train, x_test, y_test): float32 [N, 1, img_size, img_size], int64 labels."""
    digits = _load_digits()
    x = upscale(digits.images / DIGITS_MAX_VALUE, img_size)
    y = digits.target.astype(np.int64)
    train_idx, test_idx = digits_split()
    mean, std = x[train_idx].mean(dtype=np.float64), x[train_idx].std(dtype=np.float64)
    x = ((x - mean) / std).astype(np.float32)
    return x[train_idx], y[train_idx], x[test_idx], y[test_idx]
