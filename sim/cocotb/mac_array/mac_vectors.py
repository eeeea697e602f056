"""GEMM cases for the MAC-array bench: storage (numpy only) and the random/corner cases.

A case is a dict: name, a [M][K] int16, b [N][K] int16, optional bias [N] int16, bias_lshift,
shift, optional stalls {a, b, c, seed}, and for cases from the PyTorch reference: ref (float
product), bound (per-element worst-case error of the fixed-point result against ref) and
frac_out. PyTorch cases come from mac_torch_vectors.py.
"""

from __future__ import annotations

import json

import numpy as np

ARRAYS = ("a", "b", "bias", "ref", "bound")


def save_cases(cases: list[dict], path) -> None:
    arrays, meta = {}, []
    for i, case in enumerate(cases):
        entry = {k: v for k, v in case.items() if k not in ARRAYS}
        for key in ARRAYS:
            if case.get(key) is not None:
                arrays[f"{key}{i}"] = np.asarray(case[key])
                entry.setdefault("arrays", []).append(key)
        meta.append(entry)
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)


def load_cases(path) -> list[dict]:
    data = np.load(path)
    cases = []
    for i, entry in enumerate(json.loads(str(data["meta"]))):
        case = dict(entry)
        for key in case.pop("arrays", []):
            case[key] = data[f"{key}{i}"]
        cases.append(case)
    return cases


def _case(name, a, b, bias=None, bias_lshift=0, shift=0, stalls=None):
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
    heavy = {"a": 0.35, "b": 0.35, "c": 0.45, "seed": 21}
    cases = [
        _case("odd_5x11x9_bias", small(3000, 5, 9), small(3000, 11, 9), small(3000, 11), 6, 10),
        _case("odd_7x3x13_stalls", small(3000, 7, 13), small(3000, 3, 13), None, 0, 8, heavy),
        _case("single_1x1x1", [[-7]], [[9]], [5], 2, 1),
        _case("m1_many_k_tiles", small(20000, 1, 4 * rows + 3), small(20000, cols + 1, 4 * rows + 3), None, 0, 14),
        _case(
            "m2_forwarding_stalls",
            small(20000, 2, 3 * rows),
            small(20000, 2, 3 * rows),
            small(20000, 2),
            3,
            12,
            {"a": 0.5, "b": 0.1, "c": 0.6, "seed": 3},
        ),
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
        _case("shift_zero", small(40, 3, 5), small(40, 4, 5), small(40, 4), 0, 0),
        _case("shift_max_47", full(3, rows), full(5, rows), full(5), 30, 47),
        _case("shift_left_3", small(300, 4, rows + 1), small(300, 5, rows + 1), None, 0, -3),
        _case("shift_left_16", small(3, 3, 3), small(3, 4, 3), None, 0, -16),
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
        _case("max_m_rows", small(500, max_m, rows - 1), small(500, cols - 1, rows - 1), small(500, cols - 1), 2, 7),
        _case(
            "wide_n_stalls",
            small(9000, 6, 2 * rows + 3),
            small(9000, 3 * cols + 5, 2 * rows + 3),
            small(9000, 3 * cols + 5),
            7,
            13,
            heavy,
        ),
        # a slow consumer: the output FIFO's credits run out and the core must stop taking A rows
        _case(
            "credits_slow_consumer",
            small(3000, 3 * rows + 40, 2 * rows),
            small(3000, cols + 2, 2 * rows),
            small(3000, cols + 2),
            1,
            9,
            {"a": 0.0, "b": 0.0, "c": 0.85, "seed": 8},
        ),
        # M < 5 with A stalls: consecutive k-tiles of a row must stay >= 4 cycles apart (gap_req)
        _case(
            "m3_gap_a_stalls",
            small(20000, 3, 4 * rows),
            small(20000, 3, 4 * rows),
            None,
            0,
            11,
            {"a": 0.7, "b": 0.0, "c": 0.0, "seed": 4},
        ),
        _case(
            "m2_gap_many_k_tiles",
            small(20000, 2, 64 * rows),
            small(20000, 2, 64 * rows),
            None,
            0,
            12,
            {"a": 0.5, "b": 0.0, "c": 0.0, "seed": 12},
        ),
        _case(
            "m3_gap_many_k_tiles",
            small(20000, 3, 64 * rows),
            small(20000, 2, 64 * rows),
            None,
            0,
            12,
            {"a": 0.6, "b": 0.0, "c": 0.0, "seed": 13},
        ),
        _case(
            "m4_gap_a_stalls",
            small(20000, 4, 3 * rows + 1),
            small(20000, cols + 1, 3 * rows + 1),
            None,
            0,
            11,
            {"a": 0.6, "b": 0.2, "c": 0.3, "seed": 6},
        ),
    ]
    return cases
