"""Example-level sparsity: train on a constant-size subset, swapped by forgetting statistics.

Shared by the PyTorch trainer (model/) and the board host; numpy only. The decisions are
documented in docs/example_selector.md.
"""
from __future__ import annotations

import math

import numpy as np

from host.validation import check_keep_ratio

_NEVER = -1  # last_correct before the first presentation


class ExampleSelector:
    def __init__(self, num_examples: int, keep_ratio: float = 0.8, interval: int = 30,
                 swap: int | None = None, seed: int = 0):
        if not isinstance(num_examples, (int, np.integer)) or num_examples <= 0:
            raise ValueError(f"num_examples: expected a positive int, got {num_examples!r}")
        check_keep_ratio("keep_ratio", keep_ratio)
        if not isinstance(interval, (int, np.integer)) or interval <= 0:
            raise ValueError(f"interval: expected a positive int (epochs), got {interval!r}")
        self.num_examples = int(num_examples)
        self.keep_ratio = float(keep_ratio)
        self.interval = int(interval)
        self.seed = int(seed)
        n_keep = max(1, int(round(keep_ratio * num_examples)))
        self.swap = int(math.ceil(0.05 * num_examples)) if swap is None else int(swap)
        if self.swap < 0:
            raise ValueError(f"swap: must be >= 0, got {swap!r}")

        order = np.random.default_rng([self.seed, 0]).permutation(self.num_examples)
        self._in_subset = np.zeros(self.num_examples, dtype=bool)
        self._in_subset[order[:n_keep]] = True
        # the initial random removal, not yet restored: swaps restore these first
        self._never_trained = ~self._in_subset
        self.forgetting = np.zeros(self.num_examples, dtype=np.int64)
        self.last_correct = np.full(self.num_examples, _NEVER, dtype=np.int8)
        self.cls_attn_var = np.full(self.num_examples, np.nan, dtype=np.float64)
        self.presentations = np.zeros(self.num_examples, dtype=np.int64)
        self.rounds = 0

    # -----------------------------------------------------------------------------------------
    @property
    def subset(self) -> np.ndarray:
        return np.flatnonzero(self._in_subset).astype(np.int64)

    @property
    def swapping_done(self) -> bool:
        """True once every example of the initial removal has been restored."""
        return not self._never_trained.any()

    def record(self, indices, correct, cls_attn_var) -> None:
        """One entry per presentation, in presentation order (an index may repeat)."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        correct = np.asarray(correct, dtype=bool).reshape(-1)
        var = np.asarray(cls_attn_var, dtype=np.float64).reshape(-1)
        if not (indices.size == correct.size == var.size):
            raise ValueError(f"record: indices/correct/cls_attn_var sizes differ "
                             f"({indices.size}, {correct.size}, {var.size})")
        if indices.size and (indices.min() < 0 or indices.max() >= self.num_examples):
            raise ValueError(f"record: index out of range [0, {self.num_examples})")
        for i, ok, v in zip(indices, correct, var):  # sequential: repeats must see each other
            if self.last_correct[i] == 1 and not ok:
                self.forgetting[i] += 1
            self.last_correct[i] = 1 if ok else 0
            self.cls_attn_var[i] = v
            self.presentations[i] += 1

    def end_epoch(self, epoch: int) -> bool:
        """Call after each epoch (epoch = number of epochs completed, 1-based). Returns True on a swap."""
        if epoch <= 0 or epoch % self.interval or self.swapping_done:
            return False
        subset = self.subset
        removed_pool = np.flatnonzero(~self._in_subset)
        n = min(self.swap, subset.size, removed_pool.size)
        if n == 0:
            return False
        rng = np.random.default_rng([self.seed, 1 + self.rounds])
        # least informative first: fewest forgetting events, then lower [CLS]-attention variance
        # (never-measured variance counts as lowest), then index
        var = np.nan_to_num(self.cls_attn_var[subset], nan=-np.inf)
        order = np.lexsort((subset, var, self.forgetting[subset]))
        out = subset[order[:n]]

        never = np.flatnonzero(self._never_trained)
        restore = rng.permutation(never)[:n]
        if restore.size < n:
            rest = np.setdiff1d(removed_pool, restore)
            restore = np.concatenate([restore, rng.permutation(rest)[:n - restore.size]])
        self._in_subset[out] = False
        self._in_subset[restore] = True
        self._never_trained[restore] = False
        self.rounds += 1
        return True

    # -----------------------------------------------------------------------------------------
    _ARRAYS = ("_in_subset", "_never_trained", "forgetting", "last_correct", "cls_attn_var",
               "presentations")

    def state_dict(self) -> dict:
        state = {name.lstrip("_"): getattr(self, name).copy() for name in self._ARRAYS}
        state.update(num_examples=self.num_examples, keep_ratio=np.float64(self.keep_ratio),
                     interval=self.interval, swap=self.swap, seed=self.seed, rounds=self.rounds)
        return state

    def load_state_dict(self, state: dict) -> None:
        if int(state["num_examples"]) != self.num_examples:
            raise ValueError(f"load_state_dict: num_examples {int(state['num_examples'])} != "
                             f"{self.num_examples}")
        for name in self._ARRAYS:
            value = np.asarray(state[name.lstrip("_")])
            current = getattr(self, name)
            if value.shape != current.shape:
                raise ValueError(f"load_state_dict: {name.lstrip('_')} has shape {value.shape}, "
                                 f"expected {current.shape}")
            setattr(self, name, value.astype(current.dtype).copy())
        self.keep_ratio = float(state["keep_ratio"])
        self.interval = int(state["interval"])
        self.swap = int(state["swap"])
        self.seed = int(state["seed"])
        self.rounds = int(state["rounds"])
