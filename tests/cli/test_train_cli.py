"""`python -m model.train`, `python -m model.export` and `python -m bench` as a user runs them: one-line
errors with exit status 2 and nothing written, no clobbered runs, a strict --resume."""

import pytest
import torch
from cli_helpers import (
    BENCH,
    EXPORT,
    TRAIN,
    TRAIN_TINY,
    assert_ctrl_c_says_resume,
    assert_refused_writing_nothing,
    assert_user_error,
    bad_inputs,
    make_image_folder,
    run,
    snapshot,
)


@bad_inputs(
    (["--selector-blocks", "6,3"], ["selector_blocks=6,3", "ascending"]),
    (["--token-keep", "0"], ["token_keep=0"]),
    (["--config", "/nonexistent.yaml"], ["/nonexistent.yaml"]),
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, flags, words):
    assert_refused_writing_nothing(tmp_path, [*TRAIN, *TRAIN_TINY], flags, words)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_cuda_without_cuda_says_so(tmp_path):
    assert_user_error(run(TRAIN, *TRAIN_TINY, "--device", "cuda", "--output", tmp_path / "runs"), "no CUDA")
    assert not (tmp_path / "runs").exists()


def test_help_shows_the_defaults_a_bare_run_uses():
    text = " ".join(run(TRAIN, "--help").stdout.split())
    assert "(default: onion_tiny)" in text  # configs/digits_tiny.yaml, not the paper's DeiT-Tiny
    assert "(default: 50)" in text and "(default: digits)" in text
    assert "--no-progress" in text and "--output" in text and "--experiment" in text
    assert "(default: None)" not in text


@pytest.mark.slow
def test_run_refuse_strict_resume(tmp_path):
    out, run_dir = tmp_path / "runs", tmp_path / "runs" / "t"
    first = run(TRAIN, *TRAIN_TINY, "--epochs", "2", "--stop-after", "1", "--output", out, "--experiment", "t")
    assert first.returncode == 0, first.stderr
    assert "onion_tiny on cpu" in first.stdout and "executed MACs" in first.stdout
    assert {"config.yaml", "last.pt", "log.csv", "log.jsonl"} <= set(snapshot(run_dir))
    before = snapshot(run_dir)
    assert_user_error(
        run(TRAIN, *TRAIN_TINY, "--epochs", "2", "--output", out, "--experiment", "t"), "already holds a run"
    )
    assert_user_error(run(TRAIN, "--resume", run_dir, "--epochs", "5"), "--epochs 5", "epochs=2")
    assert_user_error(run(TRAIN, "--resume", run_dir, "--token-keep", "0.5"), "token_keep=0.7")
    assert_user_error(run(TRAIN, "--resume", "--output", run_dir, "--lr", "0.01"), "lr")
    assert snapshot(run_dir) == before
    resumed = run(TRAIN, "--resume", "--output", run_dir, "--no-progress")  # the run's own settings
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed after epoch 1 of 2" in resumed.stdout
    ckpt = run_dir / "last.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:3000])
    assert_user_error(run(TRAIN, "--resume", run_dir), "last.pt", "corrupt")
    assert_user_error(run(EXPORT, "--checkpoint", ckpt, "--output", tmp_path / "exp"), "last.pt", "corrupt")
    assert not (tmp_path / "exp").exists()


def test_non_finite_loss_stops_before_a_checkpoint(tmp_path):
    proc = run(
        TRAIN,
        *TRAIN_TINY,
        "--lr",
        "1e30",
        "--warmup-epochs",
        "0",
        "--epochs",
        "1",
        "--output",
        tmp_path,
        "--experiment",
        "nan",
    )
    assert_user_error(proc, "training loss is", "no checkpoint")
    assert not (tmp_path / "nan" / "last.pt").exists()


def test_image_folder_with_a_broken_image_is_named_up_front(tmp_path):
    data = make_image_folder(tmp_path / "data")
    (data / "val" / "cat" / "bad.jpg").write_bytes(b"not a jpeg")
    assert_user_error(run(TRAIN, *TRAIN_TINY, "--data-dir", data, "--output", tmp_path / "runs"), "bad.jpg")
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_export_and_bench_errors(tmp_path):
    assert_user_error(run(EXPORT, "--checkpoint", tmp_path / "none.pt", "--output", tmp_path / "e"), "none.pt")
    assert_user_error(run(EXPORT, "--random", "--model", "vit_huge", "--output", tmp_path / "e"), "vit_huge")
    assert_user_error(run(EXPORT, "--random", "--token-keep", "2", "--output", tmp_path / "e"), "token_keep")
    assert not (tmp_path / "e").exists()
    assert_user_error(run(BENCH, "no_such_bench"), "no_such_bench", "known")


def test_ctrl_c_prints_the_resume_command(tmp_path):
    cmd = [*TRAIN, *TRAIN_TINY, "--epochs", "200", "--eval-every", "0", "--output", tmp_path, "--experiment", "c"]
    assert "model.train --resume" in assert_ctrl_c_says_resume(cmd, tmp_path / "c" / "last.pt")
