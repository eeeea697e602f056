"""Example level, torch side: the subset sampler, the selector feed, which prediction counts as correct."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from host.example_selector import ExampleSelector, TwoPhaseForgetting
from model.example_level import (
    ExampleLevel,
    StaticRandomSubset,
    SubsetSampler,
    build_policy,
    cls_attention_variance,
    predictions_correct,
)


class LoadLog(Dataset):
    """Remembers every index it was asked to load."""

    def __init__(self, n):
        self.n = n
        self.loaded = []

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.loaded.append(i)
        return torch.zeros(2), i % 3, i


def test_sampler_never_loads_removed_examples_across_swaps():
    n = 200
    selector = ExampleSelector(n, keep_ratio=0.7, interval=1, swap=15, seed=1)
    sampler = SubsetSampler(selector.subset, seed=5)
    level = ExampleLevel(selector, sampler)
    data = LoadLog(n)
    loader = DataLoader(data, batch_size=16, sampler=sampler)
    rng = np.random.default_rng(0)
    changed_any = False
    for epoch in range(4):
        sampler.set_epoch(epoch)
        subset = set(selector.subset.tolist())
        data.loaded.clear()
        for _, targets, indices in loader:
            logits = torch.from_numpy(rng.normal(size=(len(indices), 3)).astype(np.float32))
            level.observe(indices, logits, targets, torch.rand(len(indices), 16))
        assert set(data.loaded) == subset and len(data.loaded) == len(subset)  # each kept one once
        changed_any |= level.end_epoch(epoch + 1)
        assert np.array_equal(sampler.subset, selector.subset)
    assert changed_any  # the subset did move, so the check above saw removed examples stay unloaded


def test_sampler_shards_are_disjoint_and_shuffle_per_epoch():
    subset = np.arange(0, 103, 2)  # 52 examples
    shards = [list(SubsetSampler(subset, seed=3, num_replicas=3, rank=r)) for r in range(3)]
    flat = sum(shards, [])
    assert all(len(s) == 52 // 3 for s in shards)
    assert len(set(flat)) == len(flat) and set(flat) <= set(subset.tolist())
    sampler = SubsetSampler(subset, seed=3)
    first = list(sampler)
    sampler.set_epoch(1)
    assert sorted(first) == sorted(list(sampler)) and first != list(sampler)


def test_sampler_rejects_bad_rank():
    with pytest.raises(ValueError, match="rank"):
        SubsetSampler(np.arange(4), num_replicas=2, rank=2)


def test_correct_is_judged_against_the_examples_own_label():
    from timm.data.mixup import mixup_target

    targets = torch.tensor([0, 1, 2, 3])
    logits = torch.eye(4)[[3, 1, 1, 0]] * 5  # predicts 3, 1, 1, 0
    assert predictions_correct(logits, targets).tolist() == [False, True, False, False]
    # a mixed soft target is refused: it would credit the partner image's label to this example
    with pytest.raises(ValueError, match="own integer labels"):
        predictions_correct(logits, mixup_target(targets, 4, lam=0.3, smoothing=0.1))


def test_trainer_feeds_own_labels_under_mixup(tmp_path, monkeypatch):
    from model.train import main

    seen = []
    original = ExampleLevel.observe

    def spy(self, indices, logits, labels, cls_attention):
        seen.append((indices.clone(), labels.clone()))
        return original(self, indices, logits, labels, cls_attention)

    monkeypatch.setattr(ExampleLevel, "observe", spy)
    main(
        [
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--eval-batch-size",
            "180",
            "--max-steps-per-epoch",
            "2",
            "--threads",
            "1",
            "--progress",
            "false",
            "--mixup",
            "0.8",
            "--cutmix",
            "1.0",
            "--output-dir",
            str(tmp_path),
            "--run-name",
            "mix",
        ]
    )
    from host.digits import load_digits_split

    y_train = load_digits_split(32)[1]
    assert len(seen) == 2
    for indices, labels in seen:
        assert labels.tolist() == [int(y_train[i]) for i in indices.tolist()]


def test_cls_attention_variance_is_the_population_variance():
    rows = torch.softmax(torch.randn(5, 17), dim=1)
    assert np.allclose(cls_attention_variance(rows).numpy(), np.var(rows.numpy(), axis=1), rtol=1e-5)


def test_static_random_subset_and_policy_choice():
    policy = build_policy("random", 100, 0.8, epochs=10, seed=0)
    assert isinstance(policy, StaticRandomSubset) and policy.subset.size == 80
    before = policy.subset
    policy.record(np.arange(100), np.zeros(100, bool), np.zeros(100))
    assert not policy.end_epoch(1) and np.array_equal(before, policy.subset)
    assert build_policy("forgetting", 100, 1.0, 10, 0).subset.size == 100
    with pytest.raises(ValueError, match="example_policy"):
        build_policy("oracle", 100, 0.8, 10, 0)
    swapping = build_policy("random-swap", 100, 0.8, epochs=300, seed=0)
    assert isinstance(swapping, ExampleSelector) and swapping.ranking == "random"
    assert (swapping.interval, swapping.max_rounds, swapping.swap) == (30, 5, 5)
    forgetting = build_policy("forgetting", 100, 0.9, epochs=20, seed=0, rounds=4)
    assert (forgetting.ranking, forgetting.interval, forgetting.max_rounds) == ("forgetting", 2, 4)
    two_phase = build_policy("two-phase", 100, 0.7, epochs=50, seed=0)
    assert isinstance(two_phase, TwoPhaseForgetting) and two_phase.phase_epochs == 5
