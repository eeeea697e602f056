"""host/example_selector.py against a re-implementation of Toneva et al.'s forgetting rule with the
authors' windowing (ZLKong/Tri-Level-ViT main.py), plus hand-made cases."""

import numpy as np
import pytest

from host.example_selector import ExampleSelector, TwoPhaseForgetting, paper_rounds, scaled_interval


# -- the reference: Toneva's statistics over per-example accuracy lists, the authors' windowing ------
def toneva_counts(acc_lists: dict, npresentations: int) -> dict:
    """Toneva's compute_forgetting_statistics + sort_examples_by_forgetting for one run: forgetting
    events are 1 -> 0 transitions between consecutive presentations; never-learned examples count as
    npresentations."""
    counts = {}
    for example, acc in acc_lists.items():
        acc = np.asarray(acc[:npresentations], dtype=np.int64)
        if not acc.any():
            counts[example] = npresentations
        else:
            counts[example] = int(np.sum(acc[1:] - acc[:-1] == -1))
    return counts


def reference_removal(counts: dict, variance: dict, n: int) -> set:
    """The n examples with the lowest counts (ties: lower [CLS]-attention variance)."""
    ranked = sorted(counts, key=lambda e: (counts[e], variance[e]))
    return set(ranked[:n])


def replay(keep_ratio, n_examples, interval, swap, epochs, seed, p_correct):
    """Replays random correctness sequences through the selector and the reference; returns the
    per-swap (selector removed, reference removed, selector counts, reference counts)."""
    rng = np.random.default_rng(seed)
    learnability = rng.beta(*p_correct, size=n_examples)  # per-example chance of being right
    sel = ExampleSelector(n_examples, keep_ratio, interval=interval, swap=swap, seed=seed)
    window_acc, window_var = {}, {}  # the authors' example_stats_train
    swaps = []
    for epoch in range(1, epochs + 1):
        order = rng.permutation(sel.subset)
        correct = rng.random(order.size) < learnability[order]
        variance = rng.random(order.size)
        sel.record(order, correct, variance)
        for e, ok, v in zip(order.tolist(), correct.tolist(), variance.tolist()):
            window_acc.setdefault(e, []).append(int(ok))
            window_var[e] = v
        before = set(sel.subset.tolist())
        counts_sel = sel.forgetting.copy()
        if sel.end_epoch(epoch):
            removed = before - set(sel.subset.tolist())
            counts_ref = toneva_counts(window_acc, interval)
            expected = reference_removal(counts_ref, window_var, len(removed))
            swaps.append((removed, expected, {e: int(counts_sel[e]) for e in counts_ref}, counts_ref))
            window_acc, window_var = {}, {}  # the authors reset at every swap
    return sel, swaps


@pytest.mark.parametrize("keep_ratio, p_correct", [(0.8, (0.6, 0.6)), (0.9, (2.0, 1.0)), (0.7, (0.3, 0.3))])
def test_replayed_sequences_match_toneva_with_the_authors_windowing(keep_ratio, p_correct):
    sel, swaps = replay(keep_ratio, n_examples=300, interval=4, swap=15, epochs=40, seed=7, p_correct=p_correct)
    assert len(swaps) == paper_rounds(keep_ratio) == sel.rounds
    never_learned = 0
    for removed, expected, counts_sel, counts_ref in swaps:
        assert counts_sel == counts_ref  # the same forgetting counts
        assert removed == expected  # the same removal set
        never_learned += sum(counts_ref[e] == 4 for e in removed)  # 4 presentations: never right
    assert never_learned == 0  # never-learned examples stay


def test_never_learned_examples_count_as_the_maximum_and_stay():
    sel = ExampleSelector(6, keep_ratio=1.0, interval=1, swap=0)
    sel.record([0, 1, 2], [False, True, True], [0.1, 0.1, 0.1])
    sel.record([0, 1, 2], [False, False, True], [0.1, 0.1, 0.1])
    sel.record([0, 1, 2], [False, True, False], [0.1, 0.1, 0.1])
    # 0: never right -> 3 presentations (the maximum); 1: right, wrong, right -> 1; 2: right, right, wrong -> 1
    assert sel.forgetting[:3].tolist() == [3, 1, 1]
    sel2 = ExampleSelector(8, keep_ratio=0.5, interval=1, swap=2, seed=0)
    a, b, c, d = sel2.subset
    sel2.record([a, b, c, d], [False, True, True, True], [0.0, 0.5, 0.6, 0.7])
    sel2.record([a, b, c, d], [False, True, True, False], [0.0, 0.5, 0.6, 0.7])
    assert sel2.end_epoch(1)
    assert set(sel2.subset.tolist()) & {a, b, c, d} == {a, d}  # b, c: 0 events, removed; a kept


def test_statistics_reset_at_every_swap():
    sel = ExampleSelector(20, keep_ratio=0.5, interval=2, swap=2, seed=3)
    sel.record(sel.subset, [True] * 10, [0.1] * 10)
    sel.record(sel.subset, [False] * 10, [0.1] * 10)
    assert sel.forgetting[sel.subset].tolist() == [1] * 10
    assert sel.end_epoch(2)
    assert not sel.presentations.any() and not sel.forgetting.any()
    # a presentation after the reset cannot be a forgetting event (no "last correct" carried over)
    sel.record(sel.subset, [False] * 10, [0.1] * 10)
    assert not sel.window.forgetting.any()  # raw events: none
    assert sel.forgetting[sel.subset].tolist() == [1] * 10  # never right in this window: the maximum


def test_only_examples_presented_in_the_window_can_leave():
    sel = ExampleSelector(20, keep_ratio=0.5, interval=1, swap=5, seed=0)
    subset = sel.subset
    presented = subset[:3]
    sel.record(presented, [True] * 3, [0.1] * 3)
    assert sel.end_epoch(1)
    assert set(subset.tolist()) - set(sel.subset.tolist()) == set(presented.tolist())
    assert sel.subset.size == 10


def test_restored_examples_come_from_the_pool_and_never_the_ones_just_removed():
    sel = ExampleSelector(40, keep_ratio=0.75, interval=1, swap=4, seed=5, rounds=20)
    rng = np.random.default_rng(0)
    for epoch in range(1, 21):
        before = set(sel.subset.tolist())
        sel.record(sel.subset, rng.random(30) < 0.7, rng.random(30))
        assert sel.end_epoch(epoch)
        after = set(sel.subset.tolist())
        assert len(after) == 30 and len(before - after) == 4
        assert not (after - before) & before  # restored from outside the subset
    assert sel.rounds == 20 and not sel.end_epoch(21)


@pytest.mark.parametrize("keep_ratio, rounds", [(0.9, 3), (0.8, 5), (0.7, 7), (1.0, 0)])
def test_paper_rounds_default(keep_ratio, rounds):
    assert paper_rounds(keep_ratio) == rounds
    sel = ExampleSelector(100, keep_ratio=keep_ratio, interval=1, seed=1)
    swaps = 0
    for epoch in range(1, 12):
        sel.record(sel.subset, np.ones(sel.subset.size, bool), np.zeros(sel.subset.size))
        swaps += sel.end_epoch(epoch)
    assert swaps == rounds and sel.subset.size == round(100 * keep_ratio)


def test_rounds_and_interval_configurable():
    sel = ExampleSelector(100, keep_ratio=0.8, interval=3, seed=1, rounds=2)
    swapped = []
    for epoch in range(1, 13):
        sel.record(sel.subset, np.ones(80, bool), np.zeros(80))
        swapped.append(sel.end_epoch(epoch))
    assert [e + 1 for e, s in enumerate(swapped) if s] == [3, 6]
    assert scaled_interval(300) == 30 and scaled_interval(30) == 3 and scaled_interval(2) == 1
    with pytest.raises(ValueError, match="epochs"):
        scaled_interval(0)


def test_random_swap_baseline_same_schedule_random_removal():
    forgetting = ExampleSelector(200, keep_ratio=0.8, interval=2, seed=4)
    random = ExampleSelector(200, keep_ratio=0.8, interval=2, seed=4, ranking="random")
    assert np.array_equal(forgetting.subset, random.subset)
    rng = np.random.default_rng(1)
    changes = []
    for epoch in range(1, 13):
        subset = random.subset
        # every presentation right: the forgetting ranking would tie everything at 0
        ok = rng.random(subset.size) < 0.5
        random.record(subset, ok, rng.random(subset.size))
        forgetting.record(forgetting.subset, rng.random(160) < 0.5, rng.random(160))
        a, b = forgetting.end_epoch(epoch), random.end_epoch(epoch)
        assert a == b
        if b:
            changes.append(set(subset.tolist()) - set(random.subset.tolist()))
    assert len(changes) == 5 and all(len(c) == 10 for c in changes)  # 5 % of 200, paper rounds
    # removal ignores the statistics: the removed examples' forgetting counts are not the lowest
    assert random.subset.size == 160


def test_two_phase_counts_on_everything_then_removes_once():
    pol = TwoPhaseForgetting(10, keep_ratio=0.6, phase_epochs=2, seed=0)
    assert pol.subset.size == 10
    #            0  1  2  3  4  5  6  7  8  9
    epoch1 = [1, 1, 1, 1, 1, 1, 0, 0, 1, 1]
    epoch2 = [1, 1, 1, 1, 0, 0, 0, 0, 1, 1]
    var = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.05, 0.9]
    pol.record(range(10), epoch1, var)
    assert not pol.end_epoch(1)
    pol.record(range(10), epoch2, var)
    assert pol.end_epoch(2)
    # counts: 4, 5 forgot once; 6, 7 never learned (max); the rest 0 -> remove the four 0s of lowest variance
    assert sorted(set(range(10)) - set(pol.subset.tolist())) == [0, 1, 2, 8]
    assert not pol.end_epoch(3) and pol.subset.size == 6


def test_state_round_trip_continues_identically():
    def run(sel, epochs, rng):
        for epoch in epochs:
            sel.record(sel.subset, rng.random(sel.subset.size) < 0.6, rng.random(sel.subset.size))
            sel.end_epoch(epoch)
        return sel.subset

    for make in (
        lambda: ExampleSelector(50, 0.8, interval=1, swap=3, seed=2),
        lambda: ExampleSelector(50, 0.8, interval=1, swap=3, seed=2, ranking="random"),
        lambda: TwoPhaseForgetting(50, 0.8, phase_epochs=3, seed=2),
    ):
        ref = make()
        run(ref, range(1, 3), np.random.default_rng(1))
        state = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in ref.state_dict().items()}
        resumed = make()
        resumed.load_state_dict(state)
        a = run(ref, range(3, 6), np.random.default_rng(9))
        b = run(resumed, range(3, 6), np.random.default_rng(9))
        assert np.array_equal(a, b)
        assert np.array_equal(ref.window.counts(), resumed.window.counts())


def test_bad_arguments():
    with pytest.raises(ValueError, match="keep_ratio"):
        ExampleSelector(10, keep_ratio=0.0)
    with pytest.raises(ValueError, match="interval"):
        ExampleSelector(10, interval=0)
    with pytest.raises(ValueError, match="ranking"):
        ExampleSelector(10, ranking="oracle")
    with pytest.raises(ValueError, match="rounds"):
        ExampleSelector(10, rounds=-1)
    with pytest.raises(ValueError, match="phase_epochs"):
        TwoPhaseForgetting(10, 0.8, phase_epochs=0)
    sel = ExampleSelector(10)
    with pytest.raises(ValueError, match="out of range"):
        sel.record([10], [True], [0.0])
    with pytest.raises(ValueError, match="num_examples"):
        ExampleSelector(11).load_state_dict(sel.state_dict())
