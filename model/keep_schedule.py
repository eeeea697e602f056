"""Keep-ratio warm-up: hold 1.0, then cosine down to the target, then hold the target.

The authors' E-ViT code starts shrinking at epoch 10 and reaches the target at epoch 110 of 300;
here start and end are fractions of the total iterations, so any run length scales the same way.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

# The authors' defaults (epochs 10 and 110 of 300) as fractions of the run.
DEFAULT_WARMUP_START = 10 / 300
DEFAULT_WARMUP_END = 110 / 300


@dataclass(frozen=True)
class KeepSchedule:
    target: float
    start: float = DEFAULT_WARMUP_START
    end: float = DEFAULT_WARMUP_END

    def __post_init__(self) -> None:
        if not 0.0 < self.target <= 1.0:
            raise ValueError(f"target: keep ratio must be in (0, 1], got {self.target!r}")
        if not 0.0 <= self.start <= self.end <= 1.0:
            raise ValueError(f"start/end: need 0 <= start <= end <= 1, got {self.start!r}, {self.end!r}")

    def at(self, progress: float) -> float:
        """Keep ratio at `progress` (fraction of the run done, 0..1)."""
        if progress < self.start:
            return 1.0
        if progress >= self.end:
            return self.target
        phase = (progress - self.start) / (self.end - self.start)
        return self.target + (1.0 - self.target) * 0.5 * (1.0 + math.cos(math.pi * phase))
