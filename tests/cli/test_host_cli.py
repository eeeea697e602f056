"""`python host/train_on_board.py` as a user runs it: bad input is one line and exit 2 with nothing
written, runs are never clobbered, --resume is strict, Ctrl-C says how to resume."""

import json
import stat

import numpy as np
import pytest
from cli_helpers import (
    HOST,
    HOST_TINY,
    assert_ctrl_c_says_resume,
    assert_refused_writing_nothing,
    assert_user_error,
    bad_inputs,
    make_image_folder,
    run,
    snapshot,
)


@bad_inputs(
    (["--selector-blocks", "2,1"], ["selector_blocks=2,1", "ascending"]),
    (["--selector-blocks", "1,9"], ["selector_blocks", "outside"]),
    (["--token-keep", "1.5"], ["token_keep=1.5"]),
    (["--epochs", "0"], ["epochs"]),
    (["--initial-checkpoint", "/nonexistent/b.npz"], ["/nonexistent/b.npz"]),
    (["--bogus-flag"], ["--bogus-flag"]),
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, flags, words):
    assert_refused_writing_nothing(tmp_path, [*HOST, *HOST_TINY], flags, words)


def test_unwritable_output_is_refused_before_training(tmp_path):
    (tmp_path / "file").write_text("x")
    assert_user_error(run(HOST, *HOST_TINY, "--output", tmp_path / "file" / "runs"), "is a file")
    assert_user_error(run(HOST, *HOST_TINY, "--output", "/proc/onion-runs"), "/proc")


@pytest.mark.slow
def test_run_refuse_strict_resume_overwrite(tmp_path):
    out, run_dir = tmp_path / "runs", tmp_path / "runs" / "r"
    first = run(HOST, *HOST_TINY, "--epochs", "1", "--output", out, "--experiment", "r")
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    # banner and closing summary
    assert "onion_micro" in first.stdout and "backend csim" in first.stdout and str(run_dir) in first.stdout
    assert "final test accuracy" in first.stdout and "executed MACs" in first.stdout and "x a dense run" in first.stdout
    for name in (
        "log.jsonl",
        "log.csv",
        "checkpoint.npz",
        "report.json",
        "bundle.npz",
        "curves.png",
        "accuracy_vs_cost.png",
        "kept_patches.png",
    ):
        path = run_dir / name
        assert path.is_file(), name
        assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044, f"{name} is not readable by others"
    report = json.loads((run_dir / "report.json").read_text())
    assert 0 < report["executed_macs"] < report["dense_macs"]
    header = (run_dir / "log.csv").read_text().splitlines()[0].split(",")
    assert {"epoch", "loss", "test_acc", "macs"} <= set(header)
    before = snapshot(run_dir)

    # a new run into the same folder, good or bad, replaces nothing
    assert_user_error(
        run(HOST, *HOST_TINY, "--epochs", "1", "--output", out, "--experiment", "r"), "already holds a run", "--resume"
    )
    assert_user_error(run(HOST, *HOST_TINY, "--selector-blocks", "2,1", "--output", out, "--experiment", "r"))
    # resume: explicit flags that contradict the stored settings are refused, naming the field
    for flags, field in (
        (["--lr", "0.5"], "lr=0.0005"),
        (["-b", "2"], "batch_size=8"),
        (["--token-keep", "0.5"], "token_keep=0.7"),
        (["--epochs", "3"], "epochs=1"),
        (["--model", "onion_tiny"], "model=onion_micro"),
    ):
        assert_user_error(run(HOST, "--resume", run_dir, *flags), field, "contradicts")
    assert_user_error(run(HOST, "--resume", run_dir, "--backend", "float"), "backend")
    assert snapshot(run_dir) == before

    # --resume --output DIR works for a run with non-default settings; agreeing flags are fine
    again = run(HOST, "--resume", "--output", run_dir, "--lr", "0.0005", "--no-progress")
    assert again.returncode == 0, again.stderr
    assert "resumed after epoch 1 of 1" in again.stdout

    # a truncated checkpoint is a one-line error too
    ckpt = run_dir / "checkpoint.npz"
    ckpt.write_bytes(ckpt.read_bytes()[:2000])
    assert_user_error(run(HOST, "--resume", run_dir), "checkpoint", "corrupt or truncated")

    # --overwrite starts afresh
    fresh = run(HOST, *HOST_TINY, "--epochs", "1", "--output", out, "--experiment", "r", "--overwrite")
    assert fresh.returncode == 0, fresh.stderr
    assert len((run_dir / "log.jsonl").read_text().splitlines()) == 1


def test_non_finite_loss_stops_before_a_checkpoint(tmp_path):
    out = tmp_path / "runs"
    proc = run(
        HOST,
        "--model",
        "onion_micro",
        "--backend",
        "float",
        "--lr",
        "1e30",
        "--warmup-epochs",
        "0",
        "-b",
        "1",
        "--epochs",
        "1",
        "--max-samples-per-epoch",
        "24",
        "--eval-samples",
        "4",
        "--no-progress",
        "--output",
        out,
        "--experiment",
        "nan",
    )
    assert_user_error(proc, "training loss is nan", "no checkpoint")
    assert not (out / "nan" / "checkpoint.npz").exists()


def test_image_folder_rgb_run_and_broken_image(tmp_path):
    data = make_image_folder(tmp_path / "data")
    out = tmp_path / "runs"
    proc = run(
        HOST,
        "--model",
        "onion_micro",
        "--data-dir",
        data,
        "--epochs",
        "1",
        "--no-progress",
        "--backend",
        "csim",
        "--output",
        out,
        "--experiment",
        "rgb",
    )
    assert proc.returncode == 0, proc.stderr
    assert "ImageFolder" in proc.stdout and "6 train / 4 test" in proc.stdout
    report = json.loads((out / "rgb" / "report.json").read_text())
    assert report["config"]["in_chans"] == 3 and report["config"]["num_classes"] == 2

    (data / "train" / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot an image")
    assert_user_error(
        run(HOST, "--model", "onion_micro", "--data-dir", data, "--output", out, "--experiment", "b"), "broken.png"
    )
    assert not (out / "b").exists()


def test_ctrl_c_prints_the_resume_command(tmp_path):
    out = tmp_path / "runs"
    cmd = [*HOST, *HOST_TINY, "--epochs", "200", "--output", out, "--experiment", "c"]
    stderr = assert_ctrl_c_says_resume(cmd, out / "c" / "checkpoint.npz")
    assert str(out / "c") in stderr
    with np.load(out / "c" / "checkpoint.npz") as z:  # the checkpoint left behind is whole
        assert int(z["epoch"]) >= 1


@pytest.mark.slow
def test_report_runs_and_help_shows_real_defaults():
    proc = run(HOST, "--report")
    assert proc.returncode == 0, proc.stderr
    assert "DeiT" in proc.stdout or "deit" in proc.stdout
    # --model / --json are honoured (another table) or refused in one line, never silently ignored
    for flags in (["--model", "onion_tiny"], ["--json"]):
        other = run(HOST, "--report", *flags)
        if other.returncode == 0:
            assert other.stdout != proc.stdout
        else:
            assert_user_error(other, flags[0])
    helptext = " ".join(run(HOST, "--help").stdout.split())
    assert "(default: onion_tiny)" in helptext and "(default: 0.7)" in helptext
    assert "(default: 13)" in helptext and "(default: 2)" in helptext  # epochs, engine lanes: the demo recipe
    assert "(default 0.7) (default" not in helptext and "(default: None)" not in helptext
