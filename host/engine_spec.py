"""Reads the engine contract, hw/spec/engine_spec.json: formats, limits, op codes, registers.

numpy-only host code and the export quantizer both go through here, so no constant is copied.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

SPEC_PATH = Path(__file__).resolve().parents[1] / "hw" / "spec" / "engine_spec.json"


@functools.lru_cache(maxsize=None)
def load_spec(path: str | None = None) -> dict:
    with open(path or SPEC_PATH) as f:
        return json.load(f)


def format_frac(kind: str) -> int:
    """Fractional bits of a tensor kind's declared format (e.g. 'weight')."""
    formats = load_spec()["formats"]
    if kind not in formats:
        raise KeyError(f"no fixed-point format declared for {kind!r}; declared: {', '.join(formats)}")
    return int(formats[kind]["frac"])


def quantize(values: np.ndarray, frac: int) -> tuple[np.ndarray, int]:
    """float -> int16 words (round half up, saturate), as the engine's requantize does.

    Returns the words and the number of saturated elements.
    """
    bits = int(load_spec()["word_bits"])
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    scaled = np.floor(np.asarray(values, dtype=np.float64) * (2.0 ** frac) + 0.5)
    saturated = int(np.count_nonzero((scaled < lo) | (scaled > hi)))
    return np.clip(scaled, lo, hi).astype(np.int16), saturated


def dequantize(words: np.ndarray, frac: int) -> np.ndarray:
    return np.asarray(words, dtype=np.float32) * np.float32(2.0 ** -frac)
