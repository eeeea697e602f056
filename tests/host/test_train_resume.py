"""Training through the engine: a run interrupted after an epoch and resumed ends exactly where the
uninterrupted run ends; the CLI rejects bad input before anything runs."""

import json

import numpy as np
import pytest
from host_fixtures import TINY, small_run

from host.backends.csim import CsimBackend
from host.bundle import BundleError, write_bundle
from host.engine_driver import EngineDriver
from host.engine_model import EngineViT
from host.model_init import init_weights
from host.trainer import Trainer


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 1, 16, 16)).astype(np.float32)
    y = rng.integers(0, 10, 40)
    return x[:30], y[:30], x[30:], y[30:]


def trainer(run_dir):
    model = EngineViT(EngineDriver(CsimBackend(words=EngineDriver.required_words(TINY)), TINY))
    return Trainer(
        model, TINY, init_weights(TINY, 0), data(), small_run(), run_dir=run_dir, progress=False, log=lambda *_: None
    )


def strip(history):
    return [{k: v for k, v in e.items() if k != "wall_s"} for e in history]


def test_resume_after_interruption_matches_uninterrupted(tmp_path):
    full = trainer(tmp_path / "full")
    full.fit()

    first = trainer(tmp_path / "cut")
    first.train_epoch()
    first.checkpoint()  # the process dies here
    del first
    resumed = trainer(tmp_path / "cut")
    resumed.resume(tmp_path / "cut" / "checkpoint.npz")
    assert resumed.epoch == 1
    resumed.fit()

    for k in full.master:
        np.testing.assert_array_equal(resumed.master[k], full.master[k])
    assert strip(resumed.history) == strip(full.history)
    assert np.array_equal(resumed.selector.subset, full.selector.subset)
    assert full.history[-1]["macs"] > 0


def test_checkpoint_is_atomic(tmp_path):
    t = trainer(tmp_path)
    t.train_epoch()
    t.checkpoint()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz"]


def test_cli_rejects_a_bad_bundle_before_training(tmp_path, capsys):
    from host.train_on_board import main

    path = tmp_path / "b.npz"
    write_bundle(path, config=TINY, weights=init_weights(TINY, 0), sparsity={"selector_blocks": [1]})
    path.write_bytes(path.read_bytes()[:1000])
    assert main(["--initial-checkpoint", str(path), "--output", str(tmp_path / "run"), "--no-progress"]) == 2
    assert "corrupt or truncated" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    with pytest.raises(BundleError):
        write_bundle(path, config=TINY, weights=init_weights(TINY, 0), sparsity={"token_keep": 1.2})


def test_cli_smoke_run_writes_logs_checkpoint_report(tmp_path):
    from host.train_on_board import main

    out = tmp_path / "run"
    args = [
        "--model",
        "onion_micro",
        "--epochs",
        "1",
        "--max-samples-per-epoch",
        "8",
        "--eval-samples",
        "8",
        "--output",
        str(tmp_path),
        "--experiment",
        "run",
        "--no-progress",
        "--backend",
        "csim",
    ]
    assert main(args) == 0
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert len(log) == 1 and log[0]["examples_used"] == 8
    assert log[0]["fabric_label"].startswith("estimate (C-sim)")
    for name in (
        "checkpoint.npz",
        "report.json",
        "curves.png",
        "bundle.npz",
        "log.csv",
        "accuracy_vs_cost.png",
        "kept_patches.png",
    ):
        assert (out / name).exists(), name


def test_trainer_recorded_masks_must_cover_the_training_set(tmp_path):
    # the CLI no longer offers --masks recorded (export records the test split only); the trainer's
    # replay path still refuses masks that do not cover every training example
    tokens = np.tile(np.arange(0, 17, 2), (3, 1)).astype(np.int16)  # [CLS] + 8 patches, 3 samples
    model = EngineViT(EngineDriver(CsimBackend(words=EngineDriver.required_words(TINY)), TINY))
    s = small_run()
    s.masks, s.selector_blocks = "recorded", [1]
    with pytest.raises(ValueError, match="no recorded masks for"):
        Trainer(
            model,
            TINY,
            init_weights(TINY, 0),
            data(),
            s,
            progress=False,
            recorded_masks={"tokens_s0": tokens, "sample_index": np.array([0, 1, 2])},
        )
