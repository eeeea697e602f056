"""Checks of user-given settings shared by both trainers (numpy-free, torch-free): one function per
rule, each raising ValueError with a one-line message that names the field."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def check_keep_ratio(name: str, value: object) -> float:
    """A keep ratio (r_e, R_T, R_A) must be a finite number in (0, 1]."""
    value = check_finite(name, value)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{name}={value:g}: keep ratio must be in (0, 1]")
    return value


def check_finite(name: str, value: object) -> float:
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}={value!r}: expected a number")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name}={value}: must be a finite number")
    return value


MAX_ENGINE_LANES = 8  # a lane costs a copy of every engine region (and, in C-sim, a thread)


def check_lanes(lanes: object, name: str = "engine_lanes") -> int:
    """Engine lanes (host/engine_lanes.py): an int in 1..MAX_ENGINE_LANES."""
    import numbers

    if isinstance(lanes, bool) or not isinstance(lanes, numbers.Integral) or not 1 <= lanes <= MAX_ENGINE_LANES:
        raise ValueError(f"{name}={lanes!r}: expected an int in 1..{MAX_ENGINE_LANES}")
    return int(lanes)


def check_positive(name: str, value: object) -> float:
    value = check_finite(name, value)
    if value <= 0:
        raise ValueError(f"{name}={value:g}: must be positive")
    return value


def check_non_negative(name: str, value: object) -> float:
    value = check_finite(name, value)
    if value < 0:
        raise ValueError(f"{name}={value:g}: must be >= 0")
    return value


def check_fraction(name: str, value: object) -> float:
    value = check_finite(name, value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}={value:g}: must be in [0, 1]")
    return value


def check_selector_blocks(blocks: Iterable[int], depth: int, name: str = "selector_blocks") -> list[int]:
    """0-based block indices, strictly ascending, inside [0, depth)."""
    blocks = [int(b) for b in blocks]
    for b in blocks:
        if not 0 <= b < depth:
            raise ValueError(
                f"{name}={','.join(map(str, blocks))}: block {b} is outside 0..{depth - 1} "
                f"(the model has {depth} blocks)"
            )
    if any(b >= c for b, c in zip(blocks, blocks[1:])):
        raise ValueError(f"{name}={','.join(map(str, blocks))}: blocks must be strictly ascending")
    return blocks


def parse_int_list(text: str | Sequence[int]) -> list[int]:
    """'3,6,9' / '3 6 9' / [3, 6, 9] -> [3, 6, 9]."""
    if isinstance(text, (list, tuple)):
        return [int(v) for v in text]
    try:
        return [int(v) for v in str(text).replace(",", " ").split()]
    except ValueError:
        raise ValueError(f"expected comma-separated integers, got {text!r}") from None
