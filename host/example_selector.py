"""Example-level sparsity: train on a constant-size subset, swapped by forgetting statistics.

Shared by the PyTorch trainer (model/) and the board host; numpy only. The rules follow the paper
and the authors' code (ZLKong/Tri-Level-ViT main.py, after Toneva et al.'s
order_examples_by_forgetting.py); docs/example_selector.md lists every decision.

* ``ExampleSelector``: the paper's selector (``ranking="forgetting"``) and the paper's *Random*
  baseline (``ranking="random"``: same swap schedule and amount, removal drawn at random).
* ``TwoPhaseForgetting``: Toneva et al.'s rule as a policy - count on the full data for a first
  phase, then drop the least-forgotten share once and train on the rest.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from host.validation import check_keep_ratio

PAPER_EPOCHS = 300
PAPER_INTERVAL_EPOCHS = 30  # the authors swap every 30 of their 300 epochs
PAPER_SWAP_FRACTION = 0.05  # 5 % of the data set per swap
RANKINGS = ("forgetting", "random")

_NONE = -1  # last_correct before the first presentation of a window


def scaled_interval(epochs: int, paper_interval: int = PAPER_INTERVAL_EPOCHS) -> int:
    """The paper's swap interval (30 of 300 epochs) scaled to a run of ``epochs`` epochs, at least 1."""
    if int(epochs) <= 0:
        raise ValueError(f"epochs: expected a positive int, got {epochs!r}")
    return max(1, round(paper_interval / PAPER_EPOCHS * int(epochs)))


def paper_rounds(keep_ratio: float, swap_fraction: float = PAPER_SWAP_FRACTION) -> int:
    """Swap rounds by the paper's rule: 3 for r_e 0.9, 5 for r_e 0.8. Both are one round more than
    covering the initial removal takes, (1 - r_e) / swap_fraction + 1; the same rule extends to other
    ratios (7 for 0.7). The authors' code always runs 5 (``putback_batch <= 4``)."""
    if keep_ratio >= 1.0:
        return 0
    return int(math.ceil((1.0 - keep_ratio) / swap_fraction - 1e-9)) + 1


def _keep_count(num_examples: int, keep_ratio: float) -> int:
    return max(1, int(round(keep_ratio * num_examples)))


def _check_common(num_examples: int, keep_ratio: float) -> None:
    if not isinstance(num_examples, (int, np.integer)) or num_examples <= 0:
        raise ValueError(f"num_examples: expected a positive int, got {num_examples!r}")
    check_keep_ratio("keep_ratio", keep_ratio)


class ForgettingWindow:
    """Forgetting statistics of one counting window (Toneva et al.'s rule, streamed).

    A forgetting event is a presentation judged wrong right after one judged right. An example
    never judged right in the window counts as the window's maximum, the largest number of
    presentations any example had (Toneva's ``npresentations``: one per epoch), so it ranks as
    most informative. Examples not presented in the window have no statistics.
    """

    ARRAYS = ("forgetting", "last_correct", "ever_correct", "presentations", "cls_attn_var")

    def __init__(self, num_examples: int):
        self.num_examples = int(num_examples)
        self.reset()

    def reset(self) -> None:
        self.forgetting = np.zeros(self.num_examples, dtype=np.int64)
        self.last_correct = np.full(self.num_examples, _NONE, dtype=np.int8)
        self.ever_correct = np.zeros(self.num_examples, dtype=bool)
        self.presentations = np.zeros(self.num_examples, dtype=np.int64)
        self.cls_attn_var = np.full(self.num_examples, np.nan, dtype=np.float64)

    def record(self, indices: ArrayLike, correct: ArrayLike, cls_attn_var: ArrayLike) -> None:
        """One entry per presentation, in presentation order (an index may repeat)."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        correct = np.asarray(correct, dtype=bool).reshape(-1)
        var = np.asarray(cls_attn_var, dtype=np.float64).reshape(-1)
        if not (indices.size == correct.size == var.size):
            raise ValueError(
                f"record: indices/correct/cls_attn_var sizes differ ({indices.size}, {correct.size}, {var.size})"
            )
        if indices.size and (indices.min() < 0 or indices.max() >= self.num_examples):
            raise ValueError(f"record: index out of range [0, {self.num_examples})")
        for i, ok, v in zip(indices, correct, var):  # sequential: repeats must see each other
            if self.last_correct[i] == 1 and not ok:
                self.forgetting[i] += 1
            self.last_correct[i] = 1 if ok else 0
            self.ever_correct[i] |= ok
            self.cls_attn_var[i] = v  # the latest presentation describes the current model
            self.presentations[i] += 1

    def counts(self) -> np.ndarray:
        """Forgetting count per example; never-learned examples get the window's maximum."""
        most = int(self.presentations.max()) if self.presentations.size else 0
        return np.where(self.ever_correct, self.forgetting, most).astype(np.int64)

    def presented(self) -> np.ndarray:
        return self.presentations > 0

    def least_informative(self, candidates: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """The n candidates with the fewest forgetting events; ties: lower [CLS]-attention variance
        (never measured counts as lowest), then a seeded random order."""
        candidates = np.asarray(candidates, dtype=np.int64)
        var = np.nan_to_num(self.cls_attn_var[candidates], nan=-np.inf)
        order = np.lexsort((rng.permutation(candidates.size), var, self.counts()[candidates]))
        return candidates[order[:n]]

    def state(self, prefix: str = "") -> dict:
        return {prefix + name: getattr(self, name).copy() for name in self.ARRAYS}

    def load(self, state: dict, prefix: str = "") -> None:
        for name in self.ARRAYS:
            value = np.asarray(state[prefix + name])
            current = getattr(self, name)
            if value.shape != current.shape:
                raise ValueError(f"load_state_dict: {prefix + name} has shape {value.shape}, expected {current.shape}")
            setattr(self, name, value.astype(current.dtype).copy())


class ExampleSelector:
    """The paper's example selector (or its swapping *Random* baseline).

    A random ``round(keep_ratio * N)`` subset first; every ``interval`` epochs, for ``rounds`` rounds,
    ``swap`` examples of the subset that were presented in the current window leave it (the least
    informative, or random ones for ``ranking="random"``) and as many return, drawn at random from the
    examples outside the subset before this swap; then the window's statistics reset.
    """

    def __init__(
        self,
        num_examples: int,
        keep_ratio: float = 0.8,
        interval: int = 30,
        swap: int | None = None,
        seed: int = 0,
        rounds: int | None = None,
        ranking: str = "forgetting",
    ):
        _check_common(num_examples, keep_ratio)
        if not isinstance(interval, (int, np.integer)) or interval <= 0:
            raise ValueError(f"interval: expected a positive int (epochs), got {interval!r}")
        if ranking not in RANKINGS:
            raise ValueError(f"ranking: expected one of {RANKINGS}, got {ranking!r}")
        self.num_examples = int(num_examples)
        self.keep_ratio = float(keep_ratio)
        self.interval = int(interval)
        self.seed = int(seed)
        self.ranking = ranking
        self.swap = int(math.ceil(PAPER_SWAP_FRACTION * num_examples)) if swap is None else int(swap)
        if self.swap < 0:
            raise ValueError(f"swap: must be >= 0, got {swap!r}")
        self.max_rounds = paper_rounds(self.keep_ratio) if rounds is None else int(rounds)
        if self.max_rounds < 0:
            raise ValueError(f"rounds: must be >= 0, got {rounds!r}")

        order = np.random.default_rng([self.seed, 0]).permutation(self.num_examples)
        self._in_subset = np.zeros(self.num_examples, dtype=bool)
        self._in_subset[order[: _keep_count(self.num_examples, self.keep_ratio)]] = True
        self.window = ForgettingWindow(self.num_examples)
        self.rounds = 0
        self.presented_total = 0  # presentations over the whole run (the window's reset at swaps)

    # -----------------------------------------------------------------------------------------
    @property
    def subset(self) -> np.ndarray:
        return np.flatnonzero(self._in_subset).astype(np.int64)

    @property
    def swapping_done(self) -> bool:
        return self.rounds >= self.max_rounds or self.keep_ratio >= 1.0

    @property
    def forgetting(self) -> np.ndarray:
        """Forgetting counts of the current window (never-learned examples at the maximum)."""
        return self.window.counts()

    @property
    def presentations(self) -> np.ndarray:
        return self.window.presentations

    def record(self, indices: ArrayLike, correct: ArrayLike, cls_attn_var: ArrayLike) -> None:
        self.window.record(indices, correct, cls_attn_var)
        self.presented_total += int(np.asarray(indices).size)

    def end_epoch(self, epoch: int) -> bool:
        """Call after each epoch (epoch = number of epochs completed, 1-based). Returns True on a swap."""
        if epoch <= 0 or epoch % self.interval or self.swapping_done:
            return False
        rng = np.random.default_rng([self.seed, 1 + self.rounds])
        candidates = np.flatnonzero(self._in_subset & self.window.presented())
        pool = np.flatnonzero(~self._in_subset)
        n = min(self.swap, candidates.size, pool.size)
        if self.ranking == "forgetting":
            out = self.window.least_informative(candidates, n, rng)
        else:
            out = rng.permutation(candidates)[:n]
        restore = rng.permutation(pool)[:n]
        self._in_subset[out] = False
        self._in_subset[restore] = True
        self.window.reset()
        self.rounds += 1
        return n > 0

    # -----------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        state = dict(in_subset=self._in_subset.copy(), **self.window.state("window_"))
        state.update(
            num_examples=self.num_examples,
            keep_ratio=np.float64(self.keep_ratio),
            interval=self.interval,
            swap=self.swap,
            seed=self.seed,
            rounds=self.rounds,
            max_rounds=self.max_rounds,
            ranking=RANKINGS.index(self.ranking),
            presented_total=self.presented_total,
        )
        return state

    def load_state_dict(self, state: dict) -> None:
        if int(state["num_examples"]) != self.num_examples:
            raise ValueError(f"load_state_dict: num_examples {int(state['num_examples'])} != {self.num_examples}")
        if "window_forgetting" not in state:
            raise ValueError(
                "load_state_dict: example-selector state from an older version "
                "(no per-window statistics); restart the run"
            )
        in_subset = np.asarray(state["in_subset"], dtype=bool)
        if in_subset.shape != self._in_subset.shape:
            raise ValueError(f"load_state_dict: in_subset has shape {in_subset.shape}")
        self.window.load(state, "window_")
        self._in_subset = in_subset.copy()
        self.keep_ratio = float(state["keep_ratio"])
        self.interval = int(state["interval"])
        self.swap = int(state["swap"])
        self.seed = int(state["seed"])
        self.rounds = int(state["rounds"])
        self.max_rounds = int(state["max_rounds"])
        self.presented_total = int(state["presented_total"])
        self.ranking = RANKINGS[int(state["ranking"])]


class TwoPhaseForgetting:
    """Toneva et al.'s rule as a policy: train on every example for ``phase_epochs`` epochs counting
    forgetting events, then remove the ``1 - keep_ratio`` share with the fewest (never-learned
    examples count as the maximum, so they stay) and train on the rest until the end. Unlike
    Toneva et al., the same model continues (no restart from scratch), so the counting phase is
    part of the run's cost."""

    def __init__(self, num_examples: int, keep_ratio: float, phase_epochs: int, seed: int = 0):
        _check_common(num_examples, keep_ratio)
        if not isinstance(phase_epochs, (int, np.integer)) or phase_epochs <= 0:
            raise ValueError(f"phase_epochs: expected a positive int, got {phase_epochs!r}")
        self.num_examples = int(num_examples)
        self.keep_ratio = float(keep_ratio)
        self.phase_epochs = int(phase_epochs)
        self.seed = int(seed)
        self._in_subset = np.ones(self.num_examples, dtype=bool)
        self.window = ForgettingWindow(self.num_examples)
        self.done = False

    @property
    def subset(self) -> np.ndarray:
        return np.flatnonzero(self._in_subset).astype(np.int64)

    def record(self, indices: ArrayLike, correct: ArrayLike, cls_attn_var: ArrayLike) -> None:
        if not self.done:
            self.window.record(indices, correct, cls_attn_var)

    def end_epoch(self, epoch: int) -> bool:
        if self.done or epoch < self.phase_epochs:
            return False
        n_remove = self.num_examples - _keep_count(self.num_examples, self.keep_ratio)
        out = self.window.least_informative(
            np.arange(self.num_examples), n_remove, np.random.default_rng([self.seed, 1])
        )
        self._in_subset[out] = False
        self.done = True
        return n_remove > 0

    def state_dict(self) -> dict:
        return dict(
            in_subset=self._in_subset.copy(),
            **self.window.state("window_"),
            num_examples=self.num_examples,
            done=self.done,
        )

    def load_state_dict(self, state: dict) -> None:
        if int(state["num_examples"]) != self.num_examples:
            raise ValueError(f"load_state_dict: num_examples {int(state['num_examples'])} != {self.num_examples}")
        self.window.load(state, "window_")
        self._in_subset = np.asarray(state["in_subset"], dtype=bool).copy()
        self.done = bool(state["done"])
