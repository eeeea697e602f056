"""Learning-rate and keep-ratio schedules as functions of training progress (fraction 0..1).

The keep-ratio warm-up (hold 1.0, cosine down to the target between `start` and `end`, then hold)
is defined here once; model/keep_schedule.py wraps it, so the PyTorch trainer and the host agree.
"""

from __future__ import annotations

import math

from host.validation import check_keep_ratio

# The authors' E-ViT defaults: shrink from epoch 10 to epoch 110 of 300.
DEFAULT_KEEP_START = 10 / 300
DEFAULT_KEEP_END = 110 / 300


def check_keep_schedule(target: float, start: float = DEFAULT_KEEP_START, end: float = DEFAULT_KEEP_END) -> None:
    """ValueError unless 0 < target <= 1 and 0 <= start <= end <= 1."""
    check_keep_ratio("target", target)
    if not 0.0 <= start <= end <= 1.0:
        raise ValueError(f"keep schedule start/end: need 0 <= start <= end <= 1, got {start!r}, {end!r}")


def keep_ratio(
    target: float, progress: float, start: float = DEFAULT_KEEP_START, end: float = DEFAULT_KEEP_END
) -> float:
    """Keep ratio at `progress`: 1.0 before `start`, cosine down to `target` until `end`, then `target`."""
    check_keep_schedule(target, start, end)
    if progress < start:
        return 1.0
    if progress >= end:
        return target
    phase = (progress - start) / (end - start)
    return target + (1.0 - target) * 0.5 * (1.0 + math.cos(math.pi * phase))


def cosine_lr(base: float, progress: float, warmup: float, min_lr: float, warmup_lr: float) -> float:
    """Linear warm-up from warmup_lr over the first `warmup` of the run, then cosine to min_lr."""
    if progress < warmup:
        return warmup_lr + (base - warmup_lr) * progress / warmup
    phase = (progress - warmup) / max(1e-12, 1.0 - warmup)
    return min_lr + (base - min_lr) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, phase)))
