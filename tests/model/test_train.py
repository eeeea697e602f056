"""The trainer end to end on tiny settings: config handling, a short digits run, resume, DDP on CPU."""

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from model.checkpoint import load_checkpoint
from model.train import main, parse_args

# A few iterations of the default digits run: batch 8, 3 steps per epoch, one thread.
TINY = [
    "--batch-size",
    "8",
    "--eval-batch-size",
    "180",
    "--max-steps-per-epoch",
    "3",
    "--threads",
    "1",
    "--progress",
    "false",
]


def _run_dir(tmp_path, name):
    return ["--output-dir", str(tmp_path), "--run-name", name]


def test_no_arguments_means_the_digits_config():
    args = parse_args([])
    assert (args.model, args.data, args.tri_level) == ("onion_tiny", "digits", True)
    assert (args.example_keep, args.token_keep, args.attn_keep) == (0.8, 0.7, 0.3)
    assert Path(args.config).name == "digits_tiny.yaml"


def test_flags_override_yaml_and_yaml_overrides_the_paper_defaults(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("model: onion_tiny\ndata: digits\nepochs: 7\nselector_blocks: [2, 5]\nlr: 0.002\n")
    args = parse_args(["--config", str(config), "--epochs", "3"])
    assert args.epochs == 3 and args.selector_blocks == [2, 5] and args.lr == 0.002
    assert args.weight_decay == 0.05 and args.lr_base == 5e-4  # untouched paper defaults
    paper = parse_args(["--config", "none", "--data-dir", "/x"])
    assert (paper.epochs, paper.opt, paper.selector_blocks, paper.token_keep) == (300, "adamw", [3, 6, 9], 0.7)


@pytest.mark.parametrize(
    "text, match",
    [("epoch: 3\n", "unknown option 'epoch'"), ("token_keep: 1.5\n", "token_keep"), ("data: mnist\n", "data")],
)
def test_bad_config_is_a_clear_error(tmp_path, text, match):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    with pytest.raises(ValueError, match=match):
        parse_args(["--config", str(config)])


def test_one_epoch_of_the_default_digits_run(tmp_path):
    # `python -m model.train --epochs 1` (in-process: a fresh interpreter would spend most of the
    # test importing torch and timm), cut to 3 steps of 8
    result = main(["--epochs", "1", *TINY, *_run_dir(tmp_path, "cli")])
    run = tmp_path / "cli"
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    header = (run / "log.csv").read_text().splitlines()[0].split(",")
    assert len(rows) == 1 and rows[0] == {k: v for k, v in result.items() if k not in ("run_dir", "example_subset")}
    assert {
        "train_loss",
        "train_top1",
        "test_top1",
        "epoch_time_s",
        "data_time_s",
        "examples_used",
        "example_keep",
        "token_keep",
        "attn_keep",
        "macs_forward",
        "macs_backward",
    } <= set(header)
    assert rows[0]["examples_used"] == 24 and 0 <= rows[0]["test_top1"] <= 1
    assert rows[0]["example_keep"] == pytest.approx(0.8, abs=1e-3)
    # MACs: the model's own counter over the 3 steps of 8 (keep ratios warm up within the epoch)
    from model.factory import build_model
    from model.tri_level import TriLevelConfig

    counter = build_model("onion_tiny", tri_level=TriLevelConfig(token_keep=0.7, attn_keep=0.3)).tri_level
    expected = {"forward": 0, "backward": 0}
    for step in range(3):
        counter.set_progress(step, 3)
        macs = counter.macs(8)
        expected["forward"] += macs["forward_executed"]  # attn_impl "mask" runs dense score matrices
        expected["backward"] += macs["backward_executed"]
    assert (rows[0]["macs_forward"], rows[0]["macs_backward"]) == (expected["forward"], expected["backward"])
    assert (rows[0]["token_keep"], rows[0]["attn_keep"]) == (0.7, 0.3)
    assert load_checkpoint(run / "last.pt")["epoch"] == 1


def _state_of(run):
    state = load_checkpoint(run / "last.pt")
    return state["example_level"]["state"], state["model"], state["history"]


def test_resume_mid_run_continues_the_same_schedule(tmp_path):
    # 4 epochs: the scaled selector interval is 1 epoch, so the subset changes at every epoch end.
    common = ["--epochs", "4", "--seed", "3", "--eval-every", "100", *TINY]
    straight = main([*common, *_run_dir(tmp_path, "straight")])
    main([*common, *_run_dir(tmp_path, "split"), "--stop-after", "2"])
    halfway = load_checkpoint(tmp_path / "split" / "last.pt")
    assert halfway["epoch"] == 2 and halfway["iteration"] == 6
    resumed = main([*common, *_run_dir(tmp_path, "split"), "--resume", "auto"])

    sel_a, weights_a, hist_a = _state_of(tmp_path / "straight")
    sel_b, weights_b, hist_b = _state_of(tmp_path / "split")
    assert sel_a["rounds"] == 4  # swaps happened (before and after the interruption)
    for key, value in sel_a.items():
        np.testing.assert_array_equal(value, sel_b[key], err_msg=key)
    assert straight["example_subset"] == resumed["example_subset"]
    for name, tensor in weights_a.items():
        assert torch.equal(tensor, weights_b[name]), name
    timing = {"epoch_time_s", "epoch_cpu_s", "data_time_s", "cum_time_s"}
    strip = [{k: v for k, v in row.items() if k not in timing} for row in hist_a]
    assert strip == [{k: v for k, v in row.items() if k not in timing} for row in hist_b]
    assert [row["epoch"] for row in hist_b] == [1, 2, 3, 4]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, out_dir):
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank)
    )
    from model.checkpoint import save_checkpoint
    from model.train import main as train_main

    result = train_main(
        [
            "--epochs",
            "2",
            "--batch-size",
            "4",
            "--eval-batch-size",
            "180",
            "--eval-every",
            "100",
            "--max-steps-per-epoch",
            "1",
            "--threads",
            "1",
            "--progress",
            "false",
            "--device",
            "cpu",
            "--output-dir",
            out_dir,
            "--run-name",
            "ddp",
        ]
    )
    save_checkpoint(Path(out_dir) / f"rank{rank}.pt", {"subset": np.asarray(result["example_subset"])})


def test_ddp_two_cpu_ranks_end_with_one_subset(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    subsets = [load_checkpoint(tmp_path / f"rank{r}.pt")["subset"] for r in range(2)]
    np.testing.assert_array_equal(subsets[0], subsets[1])
    state = load_checkpoint(tmp_path / "ddp" / "last.pt")
    selector = state["example_level"]["state"]
    # both ranks' presentations reached the selector: 2 ranks x 1 step x 4 examples x 2 epochs
    assert selector["presented_total"] == 16 and selector["rounds"] == 2
    assert np.array_equal(np.flatnonzero(selector["in_subset"]), subsets[0])
    assert [row["examples_used"] for row in state["history"]] == [8, 8]
