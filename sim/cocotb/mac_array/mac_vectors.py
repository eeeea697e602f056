"""GEMM cases for the MAC-array bench: storage (numpy only) and the random/corner cases.

A case is a dict: name, a [M][K] int16, b [N][K] int16, optional bias [N] int16, bias_lshift,
shift, optional stalls {a, b, c, seed}, and for cases from the PyTorch reference: ref (float
product), bound (per-element worst-case error of the fixed-point result against ref) and
frac_out. PyTorch cases come from mac_torch_vectors.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

ARRAYS = ("a", "b", "bias", "ref", "bound")


def save_cases(cases: list[dict], path: str | Path) -> None:
    arrays, meta = {}, []
    for i, case in enumerate(cases):
        entry = {k: v for k, v in case.items() if k not in ARRAYS}
        for key in ARRAYS:
            if case.get(key) is not None:
                arrays[f"{key}{i}"] = np.asarray(case[key])
                entry.setdefault("arrays", []).append(key)
        meta.append(entry)
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)


def load_cases(path: str | Path) -> list[dict]:
    data = np.load(path)
    cases = []
    for i, entry in enumerate(json.loads(str(data["meta"]))):
        case = dict(entry)
        for key in case.pop("arrays", []):
            case[key] = data[f"{key}{i}"]
        cases.append(case)
    return cases


def _case(
    name: str,
    a: ArrayLike,
    b: ArrayLike,
    bias: ArrayLike | None = None,
    bias_lshift: int = 0,
    shift: int = 0,
    stalls: dict | None = None,
) -> dict:
    return {
        "name": name,
        "a": np.asarray(a, np.int16),
        "b": np.asarray(b, np.int16),
        "bias": None if bias is None else np.asarray(bias, np.int16),
        "bias_lshift": bias_lshift,
        "shift": shift,
        "stalls": stalls,
    }


def corner_cases(rows: int, cols: int, max_m: int, seed: int = 1) -> list[dict]:
    """Random shapes that do not fill the array, saturation, zeros, extremes, every shift kind."""
    rng = np.random.default_rng(seed)
    full = lambda *shape: rng.integers(-32768, 32768, shape, dtype=np.int64).astype(np.int16)
    small = lambda lim, *shape: rng.integers(-lim, lim + 1, shape, dtype=np.int64).astype(np.int16)

    def rand(
        name: str,
        lim: int,
        m: int,
        n: int,
        k: int,
        shift: int,
        bias_lshift: int | None = None,
        stalls: dict | None = None,
    ) -> dict:
        """A [m][k] and B [n][k] drawn in [-lim, lim], then (unless bias_lshift is None) a bias [n] too."""
        a, b = small(lim, m, k), small(lim, n, k)
        bias = None if bias_lshift is None else small(lim, n)
        return _case(name, a, b, bias, bias_lshift or 0, shift, stalls)

    def stall_rates(a: float, b: float, c: float, seed: int) -> dict:
        return {"a": a, "b": b, "c": c, "seed": seed}

    heavy = stall_rates(0.35, 0.35, 0.45, 21)
    cases = [
        rand("odd_5x11x9_bias", 3000, 5, 11, 9, 10, bias_lshift=6),
        rand("odd_7x3x13_stalls", 3000, 7, 3, 13, 8, stalls=heavy),
        _case("single_1x1x1", [[-7]], [[9]], [5], 2, 1),
        rand("m1_many_k_tiles", 20000, 1, cols + 1, 4 * rows + 3, 14),
        rand("m2_forwarding_stalls", 20000, 2, 2, 3 * rows, 12, bias_lshift=3, stalls=stall_rates(0.5, 0.1, 0.6, 3)),
        _case("zeros", np.zeros((4, 2 * rows + 1)), np.zeros((cols + 2, 2 * rows + 1)), np.zeros(cols + 2), 5, 3),
        _case(
            "saturate_pos_neg",
            np.full((3, rows + 2), 32767),
            np.stack([np.full(rows + 2, 32767), np.full(rows + 2, -32768), np.full(rows + 2, 1)]),
            None,
            0,
            15,
        ),
        _case("min_times_min", np.full((2, 2 * rows + 1), -32768), np.full((3, 2 * rows + 1), -32768), None, 0, 30),
        _case("full_range_random", full(6, 3 * rows + 1), full(cols + 3, 3 * rows + 1), full(cols + 3), 16, 20),
        rand("shift_zero", 40, 3, 4, 5, 0, bias_lshift=0),
        _case("shift_max_47", full(3, rows), full(5, rows), full(5), 30, 47),
        rand("shift_left_3", 300, 4, 5, rows + 1, -3),
        rand("shift_left_16", 3, 3, 4, 3, -16),
        _case(
            "left_shift_bounds",
            np.array([[16383], [16384], [-16384], [-16385], [0]]),
            np.array([[1], [-1]]),
            None,
            0,
            -1,
        ),
        _case("shift_left_16_signs", np.array([[1], [0], [-1]]), np.array([[1]]), None, 0, -16),
        _case("shift_left_15_small", np.array([[1, 0], [0, 0], [-1, 0]]), np.array([[1, 0], [0, 1]]), None, 0, -15),
        _case("round_half_up", np.array([[1], [-1], [3], [-3], [2], [-2]]), np.array([[1], [2]]), None, 0, 1),
        _case("bias_only_k1", np.zeros((3, 1)), small(100, 5, 1), full(5), 32, 33),
        rand("max_m_rows", 500, max_m, cols - 1, rows - 1, 7, bias_lshift=2),
        rand("wide_n_stalls", 9000, 6, 3 * cols + 5, 2 * rows + 3, 13, bias_lshift=7, stalls=heavy),
        # a slow consumer: the output FIFO's credits run out and the core must stop taking A rows
        rand("credits_slow_consumer", 3000, 3 * rows + 40, cols + 2, 2 * rows, 9, 1, stall_rates(0.0, 0.0, 0.85, 8)),
        # M < 5 with A stalls: consecutive k-tiles of a row must stay >= 4 cycles apart (gap_req)
        rand("m3_gap_a_stalls", 20000, 3, 3, 4 * rows, 11, stalls=stall_rates(0.7, 0.0, 0.0, 4)),
        rand("m2_gap_many_k_tiles", 20000, 2, 2, 64 * rows, 12, stalls=stall_rates(0.5, 0.0, 0.0, 12)),
        rand("m3_gap_many_k_tiles", 20000, 3, 2, 64 * rows, 12, stalls=stall_rates(0.6, 0.0, 0.0, 13)),
        rand("m4_gap_a_stalls", 20000, 4, cols + 1, 3 * rows + 1, 11, stalls=stall_rates(0.6, 0.2, 0.3, 6)),
    ]
    return cases
