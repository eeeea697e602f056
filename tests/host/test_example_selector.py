"""host/example_selector.py decisions on hand-made statistics."""
import numpy as np
import pytest

from host.example_selector import ExampleSelector


def test_initial_subset_is_a_random_constant_share():
    sel = ExampleSelector(100, keep_ratio=0.8, seed=3)
    assert sel.subset.size == 80 and sel.subset.dtype == np.int64
    assert np.all(np.diff(sel.subset) > 0)
    assert not np.array_equal(sel.subset, np.arange(80))        # random, not the first 80
    assert np.array_equal(ExampleSelector(100, 0.8, seed=3).subset, sel.subset)
    assert sel.swap == 5                                        # ceil(5 % of 100)


def test_forgetting_events_counted_per_presentation():
    sel = ExampleSelector(4, keep_ratio=1.0)
    # example 0: right, wrong, right, wrong -> 2 events; 1: wrong, right -> 0; 2: right, right, wrong -> 1
    sel.record([0, 1, 2], [True, False, True], [0.1, 0.1, 0.1])
    sel.record([0, 1, 2, 0], [False, True, True, True], [0.1] * 4)
    sel.record([0, 2], [False, False], [0.1, 0.1])
    assert sel.forgetting.tolist() == [2, 0, 1, 0]
    assert sel.presentations.tolist() == [4, 2, 3, 0]


def test_least_informative_removed_ties_broken_by_lower_variance():
    sel = ExampleSelector(10, keep_ratio=0.6, interval=1, swap=2, seed=0)
    subset = sel.subset.copy()
    a, b, c, d, e, f = subset
    # forgetting: a,b,c have 0 events, d,e,f have 1; among a,b,c variance decides (lower first)
    for x in (d, e, f):
        sel.record([x, x], [True, False], [0.5, 0.5])
    sel.record([a, b, c], [True, True, True], [0.30, 0.10, 0.20])
    assert sel.end_epoch(1)
    removed = set(subset) - set(sel.subset)
    assert removed == {b, c}                                    # fewest events, then lowest variance
    assert sel.subset.size == 6


def test_ties_in_forgetting_and_variance_fall_back_to_index():
    sel = ExampleSelector(10, keep_ratio=0.5, interval=1, swap=1, seed=1)
    subset = sel.subset.copy()
    sel.record(subset, [True] * 5, [0.2] * 5)
    sel.end_epoch(1)
    assert set(subset) - set(sel.subset) == {subset.min()}


def test_pool_size_constant_and_initial_removal_restored_first():
    n = 40
    sel = ExampleSelector(n, keep_ratio=0.75, interval=2, swap=3, seed=5)
    initial_removed = set(range(n)) - set(sel.subset.tolist())
    rng = np.random.default_rng(0)
    selector_removed: set[int] = set()
    restored_order = []
    for epoch in range(1, 30):
        before = set(sel.subset.tolist())
        sel.record(sel.subset, rng.random(sel.subset.size) < 0.7, rng.random(sel.subset.size))
        swapped = sel.end_epoch(epoch)
        after = set(sel.subset.tolist())
        assert len(after) == 30
        assert swapped == (before != after)
        if swapped:
            assert epoch % 2 == 0
            restored = after - before
            restored_order.append(restored)
            # an example the selector removed is only restored once the initial removal is exhausted
            if restored & selector_removed:
                assert initial_removed <= set().union(*restored_order)
            selector_removed |= before - after
    assert initial_removed <= set().union(*restored_order)      # the swaps covered the initial removal
    assert sel.swapping_done
    # ceil(10 / 3) = 4 rounds, then no more swaps
    assert sel.rounds == 4
    assert not sel.end_epoch(100)


def test_state_round_trip_continues_identically():
    def run(sel, epochs, rng):
        for epoch in epochs:
            sel.record(sel.subset, rng.random(sel.subset.size) < 0.6, rng.random(sel.subset.size))
            sel.end_epoch(epoch)
        return sel.subset

    ref = ExampleSelector(50, 0.8, interval=1, swap=3, seed=2)
    run(ref, range(1, 3), np.random.default_rng(1))
    state = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in ref.state_dict().items()}
    resumed = ExampleSelector(50, 0.8, interval=1, swap=3, seed=2)
    resumed.load_state_dict(state)
    a = run(ref, range(3, 6), np.random.default_rng(9))
    b = run(resumed, range(3, 6), np.random.default_rng(9))
    assert np.array_equal(a, b)
    assert np.array_equal(ref.forgetting, resumed.forgetting)


def test_bad_arguments():
    with pytest.raises(ValueError, match="keep_ratio"):
        ExampleSelector(10, keep_ratio=0.0)
    with pytest.raises(ValueError, match="interval"):
        ExampleSelector(10, interval=0)
    sel = ExampleSelector(10)
    with pytest.raises(ValueError, match="out of range"):
        sel.record([10], [True], [0.0])
    with pytest.raises(ValueError, match="num_examples"):
        ExampleSelector(11).load_state_dict(sel.state_dict())
