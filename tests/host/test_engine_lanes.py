"""Engine lanes (host/engine_lanes.py): C-sim's parallel lanes give the bits the board's one engine
gives running the same lanes in turn; one lane is exactly the plain EngineViT."""

import dataclasses
import threading

import numpy as np
import pytest
from host_fixtures import TINY, small_run

from host.backends.csim import CsimBackend
from host.engine_driver import EngineDriver
from host.engine_lanes import EngineLanes
from host.engine_model import EngineViT
from host.model_init import init_weights
from host.ta_selector import Selection
from host.trainer import Trainer


def data():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 1, 16, 16)).astype(np.float32)
    y = rng.integers(0, 10, 40)
    return x[:30], y[:30], x[30:], y[30:]


def settings(lanes):
    # 2 epochs; batch 5 (odd: the lanes get unequal shares), 11 samples (the last step has a single
    # sample: lane 1 idle)
    return small_run(epochs=2, batch=5, max_samples_per_epoch=11, eval_samples=6, engine_lanes=lanes)


def lanes(n, parallel):
    return EngineLanes.open("csim", TINY, n, parallel)


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
    # raised only once both lanes stopped: lane 1 finished its items, lane 0 stopped at 4
    assert {item for _, item in seen} == {0, 1, 2, 3, 4, 5}


def test_lane_count_must_match_the_settings():
    with pytest.raises(ValueError, match="engine_lanes=1: the model has 2 lane"):
        Trainer(lanes(2, True), TINY, init_weights(TINY, 0), data(), settings(1), progress=False)
    with pytest.raises(ValueError, match="engine_lanes=0"):
        dataclasses.replace(settings(1), engine_lanes=0).validate()


def test_step_gradient_is_the_sum_of_the_lanes():
    """A step of 3 images on 2 lanes is the exact sum of each lane's own accumulators, and as close
    to the float twin's gradient of the same step as one engine's (lanes cost no accuracy)."""
    from host.loss import cross_entropy
    from host.vit_float import FloatViT

    x, y, _, _ = data()
    weights = init_weights(TINY, 0)
    select = Selection([1, 2], 0.7, 0.5)
    steps = [list(range(3, 11)), list(range(11, 19)), [0, 1, 2]]  # two steps adapt the exponents first
    grads = {}
    for n in (1, 2):
        model = lanes(n, parallel=True)
        model.load_weights(weights)

        def sample(lane, i):
            res = lane.forward(x[i], select)
            lane.backward(res, cross_entropy(res.logits, int(y[i]), 0.1)[1], accumulate=True)

        for step in steps:
            model.begin_grad_step(len(step))
            model.map_samples(sample, step)
            grads[n] = model.read_accumulated_grads()
        assert [lane.driver.step_images for lane in model.lanes] == ([3] if n == 1 else [2, 1])
        if n == 2:
            own = [lane.read_accumulated_grads() for lane in model.lanes]
            for k in grads[n]:
                np.testing.assert_array_equal(grads[n][k], own[0][k] + own[1][k])
    twin = FloatViT(TINY, np.float64)
    twin.load_weights(weights)
    reference = {}
    for i in steps[-1]:
        res = twin.forward(x[i], select)
        for k, g in twin.backward(res, cross_entropy(res.logits, int(y[i]), 0.1)[1]).items():
            reference[k] = reference.get(k, 0.0) + g
    for k in reference:
        error = {n: np.linalg.norm(grads[n][k] - reference[k]) / np.linalg.norm(reference[k]) for n in (1, 2)}
        assert error[2] <= 1.1 * error[1] + 0.01, (k, error)


def test_two_lanes_resume_where_they_stopped(tmp_path):
    """Every lane's gradient exponents go into the checkpoint: interrupted and resumed == uninterrupted."""

    def fresh(run_dir):
        return Trainer(
            lanes(2, parallel=True), TINY, init_weights(TINY, 0), data(), settings(2), run_dir=run_dir,
            progress=False, log=lambda *_: None,
        )  # fmt: skip

    full = fresh(tmp_path / "full")
    full.fit()
    cut = fresh(tmp_path / "cut")
    cut.train_epoch()
    cut.checkpoint()
    resumed = fresh(tmp_path / "cut")
    resumed.resume(tmp_path / "cut" / "checkpoint.npz")
    resumed.fit()
    assert_same(full, resumed)
    one_lane = Trainer(lanes(1, True), TINY, init_weights(TINY, 0), data(), settings(1), progress=False)
    with pytest.raises(ValueError, match="engine_lanes=2, this run has engine_lanes=1"):
        one_lane.resume(tmp_path / "cut" / "checkpoint.npz")


def test_a_checkpoint_from_before_lanes_resumes_on_one_lane(tmp_path):
    """Checkpoints written before clip_grad and engine_lanes existed trained with one engine, no clipping."""
    import json

    first = Trainer(lanes(1, True), TINY, init_weights(TINY, 0), data(), settings(1), run_dir=tmp_path, progress=False)
    first.train_epoch()
    first.checkpoint()
    with np.load(tmp_path / "checkpoint.npz") as z:
        arrays = {k: z[k] for k in z.files}
    stored = json.loads(arrays["settings"].tobytes().decode())
    del stored["engine_lanes"], stored["clip_grad"]
    arrays["settings"] = np.frombuffer(json.dumps(stored).encode(), dtype=np.uint8)
    np.savez(tmp_path / "old.npz", **arrays)
    resumed = Trainer(lanes(1, True), TINY, init_weights(TINY, 0), data(), settings(1), progress=False)
    resumed.resume(tmp_path / "old.npz")
    assert resumed.epoch == 1
    two = Trainer(lanes(2, True), TINY, init_weights(TINY, 0), data(), settings(2), progress=False)
    with pytest.raises(ValueError, match="engine_lanes=1, this run has engine_lanes=2"):
        two.resume(tmp_path / "old.npz")
