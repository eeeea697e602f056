"""Checkpoints: atomic writes, numpy state through torch's safe loader, RNG round trips."""

import random

import numpy as np
import pytest
import torch

from model import checkpoint
from model.checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint


def test_numpy_state_round_trips_with_dtypes(tmp_path):
    state = {
        "sel": {
            "forgetting": np.arange(5, dtype=np.int64),
            "mask": np.array([True, False]),
            "last": np.array([-1, 1], dtype=np.int8),
            "var": np.array([np.nan, 0.5]),
            "ratio": np.float64(0.8),
            "rounds": 3,
        },
        "weights": torch.ones(2, 3),
        "history": [{"epoch": 1, "acc": None}],
    }
    loaded = load_checkpoint(save_checkpoint(tmp_path / "c.pt", state))
    for key, value in state["sel"].items():
        if isinstance(value, np.ndarray):
            assert loaded["sel"][key].dtype == value.dtype
            np.testing.assert_array_equal(loaded["sel"][key], value)
    assert loaded["sel"]["ratio"] == 0.8 and type(loaded["sel"]["ratio"]) is float
    assert torch.equal(loaded["weights"], state["weights"]) and loaded["history"] == state["history"]


def test_a_failed_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"epoch": 1})

    def crash(obj, handle):
        handle.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left behind


def test_rng_states_restore_every_generator(tmp_path):
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    path = save_checkpoint(tmp_path / "rng.pt", {"rng": capture_rng_state()})
    expected = (random.random(), np.random.rand(), torch.rand(3))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    restore_rng_state(load_checkpoint(path)["rng"])
    got = (random.random(), np.random.rand(), torch.rand(3))
    assert got[0] == expected[0] and got[1] == expected[1] and torch.equal(got[2], expected[2])


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")
