"""Engine lanes (host/engine_lanes.py): C-sim's parallel lanes give the bits the board's one engine
gives running the same lanes in turn; one lane is exactly the plain EngineViT."""

import dataclasses
import threading

import numpy as np
import pytest
from host_fixtures import TINY

from host.backends.csim import CsimBackend
from host.engine_driver import EngineDriver
from host.engine_lanes import EngineLanes
from host.engine_model import EngineViT
from host.model_init import init_weights
from host.ta_selector import Selection
from host.trainer import Trainer, TrainSettings


def data():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 1, 16, 16)).astype(np.float32)
    y = rng.integers(0, 10, 40)
    return x[:30], y[:30], x[30:], y[30:]


def settings(lanes):
    return TrainSettings(
        epochs=2,
        batch=5,  # odd: the lanes get unequal shares
        lr=2e-3,
        selector_blocks=[1, 2],
        token_keep=0.7,
        attn_keep=0.5,
        example_keep=0.8,
        example_interval=1,
        example_swap=2,
        warmup_epochs=0.5,
        max_samples_per_epoch=11,  # the last step has a single sample: lane 1 idle
        eval_samples=6,
        engine_lanes=lanes,
    )


def lanes(n, parallel):
    backends = [CsimBackend(words=EngineDriver.required_words(TINY), lane=k) for k in range(n)]
    return EngineLanes([EngineViT(EngineDriver(be, TINY)) for be in backends], parallel)


def trained(model, lanes_setting):
    t = Trainer(
        model, TINY, init_weights(TINY, 0), data(), settings(lanes_setting), progress=False, log=lambda *_: None
    )
    t.fit()
    return t


def outcome(t):
    history = [{k: v for k, v in e.items() if k != "wall_s"} for e in t.history]
    return t.master, history, t.model.state_dict()


def assert_same(a, b):
    (wa, ha, sa), (wb, hb, sb) = outcome(a), outcome(b)
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=k)
    assert ha == hb
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)


def test_parallel_lanes_equal_the_board_order():
    """Two C-sim lanes on two threads == the same two lanes run one after another (the board)."""
    parallel = trained(lanes(2, parallel=True), 2)
    in_turn = trained(lanes(2, parallel=False), 2)
    assert_same(parallel, in_turn)
    assert any(k.startswith("lane1/") for k in parallel.model.state_dict())
    # the lanes adapted their own gradient exponents: two lanes are a different recipe than one
    one = trained(lanes(1, parallel=True), 1)
    assert any(not np.array_equal(parallel.master[k], one.master[k]) for k in one.master)


def test_one_lane_is_the_plain_engine():
    plain = EngineViT(EngineDriver(CsimBackend(words=EngineDriver.required_words(TINY)), TINY))
    assert_same(trained(lanes(1, parallel=True), 1), trained(plain, 1))


def test_forward_does_not_depend_on_the_lane():
    t = trained(lanes(2, parallel=True), 2)
    x = data()[2][0]
    logits = [lane.forward(x, Selection([1, 2], 0.7, 0.5), train=False).logits for lane in t.model.lanes]
    np.testing.assert_array_equal(logits[0], logits[1])


def test_map_samples_deals_in_order_and_raises_once_all_lanes_stopped():
    model = lanes(2, parallel=True)
    seen, lock = [], threading.Lock()

    def fn(lane, item):
        with lock:
            seen.append((model.lanes.index(lane), item))
        if item == 4:
            raise FloatingPointError("item 4")
        return item * 10

    assert model.map_samples(fn, [0, 1, 2, 3]) == [0, 10, 20, 30]
    assert sorted(seen) == [(0, 0), (0, 2), (1, 1), (1, 3)]
    seen.clear()
    with pytest.raises(FloatingPointError, match="item 4"):
        model.map_samples(fn, [0, 1, 2, 3, 4, 5, 6])
    assert {item for _, item in seen} == {0, 1, 2, 3, 4, 5}  # lane 1 finished its items; lane 0 stopped at 4


def test_lane_count_must_match_the_settings():
    with pytest.raises(ValueError, match="engine_lanes=1: the model has 2 lane"):
        Trainer(lanes(2, True), TINY, init_weights(TINY, 0), data(), settings(1), progress=False)
    with pytest.raises(ValueError, match="engine_lanes=0"):
        dataclasses.replace(settings(1), engine_lanes=0).validate()
