"""The torch side of example-level sparsity: a sampler over the current subset and the feed of the
selector (``host.example_selector``) from the training forward passes.

Which prediction counts as correct: the arg-max of the logits against the example's own label, also
under Mixup/CutMix (as the authors' code does: ``predicted == targets_org``); a mixed soft target
would credit the partner image's label to this example.

DDP: every rank records its own presentations; at the end of an epoch the (index, correct, variance)
triples of all ranks are all-gathered in rank order, and every rank feeds the identical full list to
its own selector, so all ranks derive the same subset. The sampler then shards that subset.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.distributed as dist
from numpy.typing import ArrayLike
from torch.utils.data import Sampler

from host.example_selector import ExampleSelector, TwoPhaseForgetting, scaled_interval
from host.validation import check_keep_ratio


class SubsetSampler(Sampler[int]):
    """Yields only indices of the current subset, shuffled per epoch, sharded across ranks.

    The shuffle depends on (seed, epoch) only, so every rank agrees on it and a resumed run replays
    it. The tail that does not divide evenly across ranks is left out of the epoch (DDP ranks must
    run the same number of steps, and padding would present an example twice).
    """

    def __init__(
        self, subset: ArrayLike, *, seed: int = 0, num_replicas: int = 1, rank: int = 0, shuffle: bool = True
    ) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank={rank} outside [0, num_replicas={num_replicas})")
        self.seed = int(seed)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.shuffle = shuffle
        self.epoch = 0
        self.set_subset(subset)

    def set_subset(self, subset: ArrayLike) -> None:
        subset = np.asarray(subset, dtype=np.int64).reshape(-1)
        if subset.size < self.num_replicas:
            raise ValueError(f"subset of {subset.size} examples cannot be shared by {self.num_replicas} ranks")
        self.subset = subset.copy()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.subset.size // self.num_replicas

    def __iter__(self):
        order = self.subset
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = order[torch.randperm(order.size, generator=generator).numpy()]
        order = order[: len(self) * self.num_replicas]
        return iter(order[self.rank :: self.num_replicas].tolist())


class ShardSampler(Sampler[int]):
    """Evaluation: rank r reads examples r, r + W, r + 2W, ... (no padding, so counts are exact)."""

    def __init__(self, length: int, num_replicas: int = 1, rank: int = 0):
        self.indices = list(range(rank, length, num_replicas))

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self):
        return iter(self.indices)


class StaticRandomSubset:
    """Baseline: remove a random (1 - keep_ratio) share once and never swap. Same interface as the selector."""

    def __init__(self, num_examples: int, keep_ratio: float, seed: int = 0):
        check_keep_ratio("keep_ratio", keep_ratio)
        self.num_examples = int(num_examples)
        n_keep = max(1, int(round(keep_ratio * num_examples)))
        order = np.random.default_rng([int(seed), 0]).permutation(self.num_examples)
        self._subset = np.sort(order[:n_keep]).astype(np.int64)

    @property
    def subset(self) -> np.ndarray:
        return self._subset.copy()

    def record(self, indices: ArrayLike, correct: ArrayLike, cls_attn_var: ArrayLike) -> None:
        pass  # a static subset ignores the statistics

    def end_epoch(self, epoch: int) -> bool:
        return False

    def state_dict(self) -> dict:
        return {"subset": self._subset.copy(), "num_examples": self.num_examples}

    def load_state_dict(self, state: dict) -> None:
        if int(state["num_examples"]) != self.num_examples:
            raise ValueError(f"load_state_dict: num_examples {int(state['num_examples'])} != {self.num_examples}")
        self._subset = np.asarray(state["subset"], dtype=np.int64).copy()


class FullData:
    """keep ratio 1: every example, every epoch."""

    def __init__(self, num_examples: int):
        self.num_examples = int(num_examples)

    @property
    def subset(self) -> np.ndarray:
        return np.arange(self.num_examples, dtype=np.int64)

    def record(self, indices: ArrayLike, correct: ArrayLike, cls_attn_var: ArrayLike) -> None:
        pass

    def end_epoch(self, epoch: int) -> bool:
        return False

    def state_dict(self) -> dict:
        return {"num_examples": self.num_examples}

    def load_state_dict(self, state: dict) -> None:
        if int(state["num_examples"]) != self.num_examples:
            raise ValueError(f"load_state_dict: num_examples {int(state['num_examples'])} != {self.num_examples}")


# forgetting: the paper's selector; random-swap: the paper's Random baseline (same swaps, random
# removal); random: a static random subset; two-phase: Toneva et al.'s count-then-remove-once.
SubsetPolicy = FullData | StaticRandomSubset | ExampleSelector | TwoPhaseForgetting  # what build_policy returns
EXAMPLE_POLICIES = ("forgetting", "random-swap", "random", "two-phase")


def build_policy(
    policy: str,
    num_examples: int,
    keep_ratio: float,
    epochs: int,
    seed: int,
    swap: int | None = None,
    rounds: int | None = None,
    interval: int | None = None,
) -> SubsetPolicy:
    """The subset policy. ``interval`` (epochs between swaps; the two-phase policy's counting phase)
    defaults to the paper's 30 of 300 epochs scaled to ``epochs``; ``rounds`` to the paper's rule."""
    if policy not in EXAMPLE_POLICIES:
        raise ValueError(f"example_policy={policy!r}; choose one of {', '.join(EXAMPLE_POLICIES)}")
    if keep_ratio >= 1.0:
        return FullData(num_examples)
    interval = scaled_interval(epochs) if interval is None else int(interval)
    if policy == "random":
        return StaticRandomSubset(num_examples, keep_ratio, seed)
    if policy == "two-phase":
        return TwoPhaseForgetting(num_examples, keep_ratio, phase_epochs=interval, seed=seed)
    return ExampleSelector(
        num_examples,
        keep_ratio=keep_ratio,
        interval=interval,
        swap=swap,
        seed=seed,
        rounds=rounds,
        ranking="random" if policy == "random-swap" else "forgetting",
    )


def predictions_correct(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per example: does the arg-max prediction hit the example's own (integer) label?"""
    if labels.ndim != 1:
        raise ValueError(
            f"labels: expected the examples' own integer labels [B], got shape "
            f"{tuple(labels.shape)} (pass the labels from before Mixup/CutMix)"
        )
    return logits.argmax(dim=1) == labels


def cls_attention_variance(cls_attention: torch.Tensor) -> torch.Tensor:
    """Variance of each example's [CLS] attention row over the patch tokens."""
    return cls_attention.float().var(dim=1, unbiased=False)


def gather_records(
    indices: np.ndarray, correct: np.ndarray, variance: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All ranks' records in rank order (the same arrays on every rank); a no-op without DDP."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return indices, correct, variance
    parts = [None] * dist.get_world_size()
    dist.all_gather_object(parts, (indices, correct, variance))
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))


class ExampleLevel:
    """Collects one epoch's presentations and hands them to the subset policy at its end."""

    def __init__(self, policy: SubsetPolicy, sampler: SubsetSampler) -> None:
        self.policy = policy
        self.sampler = sampler
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        sampler.set_subset(policy.subset)

    @property
    def subset(self) -> np.ndarray:
        return self.sampler.subset

    @property
    def keep_ratio(self) -> float:
        return self.sampler.subset.size / self.policy.num_examples

    def observe(
        self, indices: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor, cls_attention: torch.Tensor | None
    ) -> torch.Tensor:
        """Records one batch (``labels``: the examples' own labels, from before Mixup/CutMix);
        returns the per-example correctness (for the train accuracy)."""
        correct = predictions_correct(logits.detach(), labels)
        if cls_attention is None:
            variance = torch.full((len(indices),), float("nan"))
        else:
            variance = cls_attention_variance(cls_attention)
        self._pending.append(
            (
                indices.detach().cpu().numpy().astype(np.int64),
                correct.cpu().numpy(),
                variance.detach().cpu().numpy().astype(np.float64),
            )
        )
        return correct

    def end_epoch(self, epoch: int) -> bool:
        """``epoch``: epochs completed (1-based). Returns True when the subset changed."""
        if self._pending:
            local = tuple(np.concatenate([p[k] for p in self._pending]) for k in range(3))
        else:
            local = (np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0, np.float64))
        self._pending = []
        indices, correct, variance = gather_records(*local)
        self.policy.record(indices, correct, variance)
        changed = bool(self.policy.end_epoch(epoch))
        self.sampler.set_subset(self.policy.subset)
        return changed

    def state_dict(self) -> dict:
        if self._pending:
            raise RuntimeError("example-level state saved mid-epoch; checkpoints are taken at epoch ends")
        return {"policy": type(self.policy).__name__, "state": self.policy.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if state["policy"] != type(self.policy).__name__:
            raise ValueError(
                f"checkpoint's example policy {state['policy']} != this run's {type(self.policy).__name__}"
            )
        self.policy.load_state_dict(state["state"])
        self.sampler.set_subset(self.policy.subset)


def examples_per_epoch(subset_size: int, num_replicas: int, batch_size: int, drop_last: bool) -> int:
    """How many examples one epoch presents across all ranks."""
    per_rank = subset_size // num_replicas
    if drop_last:
        per_rank = (per_rank // batch_size) * batch_size
    return per_rank * num_replicas


def steps_per_epoch(subset_size: int, num_replicas: int, batch_size: int, drop_last: bool) -> int:
    per_rank = subset_size // num_replicas
    return per_rank // batch_size if drop_last else math.ceil(per_rank / batch_size)
