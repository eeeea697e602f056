"""Keep-ratio warm-up: hold 1.0, then cosine down to the target, then hold the target.

The authors' E-ViT code starts shrinking at epoch 10 and reaches the target at epoch 110 of 300;
here start and end are fractions of the total iterations, so any run length scales the same way.
The rule and its defaults live with the board host (host/schedules.py, numpy-free) so the
PyTorch reference and the host follow one schedule; this is the reference's object view of it.
"""

from __future__ import annotations

from dataclasses import dataclass

from host.schedules import DEFAULT_KEEP_END, DEFAULT_KEEP_START, check_keep_schedule, keep_ratio

# The authors' defaults (epochs 10 and 110 of 300) as fractions of the run.
DEFAULT_WARMUP_START = DEFAULT_KEEP_START
DEFAULT_WARMUP_END = DEFAULT_KEEP_END


@dataclass(frozen=True)
class KeepSchedule:
    target: float
    start: float = DEFAULT_WARMUP_START
    end: float = DEFAULT_WARMUP_END

    def __post_init__(self) -> None:
        check_keep_schedule(self.target, self.start, self.end)

    def at(self, progress: float) -> float:
        """Keep ratio at `progress` (fraction of the run done, 0..1)."""
        return keep_ratio(self.target, progress, self.start, self.end)
