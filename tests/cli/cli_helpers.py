"""Runs the real command-line tools as subprocesses, the way a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HOST = [sys.executable, str(REPO / "host" / "train_on_board.py")]
TRAIN = [sys.executable, "-m", "model.train"]
EXPORT = [sys.executable, "-m", "model.export"]
BENCH = [sys.executable, "-m", "bench"]
# a few steps of the default digits run, one thread
TRAIN_TINY = ["-b", "8", "--eval-batch-size", "180", "--max-steps-per-epoch", "2", "--threads", "1", "--no-progress"]
# onion_micro (16x16, 4 blocks) on a handful of samples through the C-sim
HOST_TINY = [
    "--model",
    "onion_micro",
    "--max-samples-per-epoch",
    "8",
    "--eval-samples",
    "8",
    "--no-progress",
    "--backend",
    "csim",
]

# bad input both trainers refuse the same way: (flags, words the one-line error names)
_SHARED_BAD_INPUTS = [
    (["--lr", "nan"], ["lr=nan", "finite"]),
    (["--clip-grad", "0"], ["clip_grad=0", "positive"]),
    (["--model", "vit_huge"], ["model='vit_huge'", "known"]),
    (["--experiment", "../escape"], ["experiment='../escape'"]),
    (["--resume"], ["--resume", "no checkpoint"]),
    (["--data-dir", "/nonexistent/onion"], ["data_dir", "/nonexistent/onion"]),
]


def run(cmd: list[str], *args, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.run(
        [*cmd, *map(str, args)], capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout, **kwargs
    )


def assert_user_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    """Exit status 2, exactly one line on stderr starting with 'error:', naming `words`, no traceback."""
    err = proc.stderr.strip()
    assert proc.returncode == 2, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert len(err.splitlines()) == 1 and err.startswith("error:"), err
    for word in words:
        assert word in err, (word, err)
    return err


def bad_inputs(*own: tuple[list[str], list[str]]) -> pytest.MarkDecorator:
    """Parametrizes a test over (flags, words): the bad input both trainers share, then the CLI's `own`."""
    return pytest.mark.parametrize("flags, words", [*_SHARED_BAD_INPUTS, *own])


def assert_refused_writing_nothing(tmp_path: Path, cmd: list[str], flags: list[str], words: list[str]) -> None:
    """A run into tmp_path/runs with bad flags is a one-line user error naming `words`, and writes nothing
    (neither the output folder nor an experiment name's escape from it)."""
    out = tmp_path / "runs"
    assert_user_error(run(cmd, "--output", out, *flags), *words)
    assert not out.exists()
    assert not (tmp_path / "escape").exists()


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under folder with its bytes (to show that nothing was written or replaced)."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def make_image_folder(root: Path, classes=("cat", "dog"), train=3, val=2, size=20) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", train), ("val", val)):
        for label, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                pixels[..., label % 3] = 255  # a class-specific colour
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def default_sigint():
    """A job started in the background by a shell inherits SIGINT ignored (and Python then keeps it ignored):
    give the child the default disposition so it sees Ctrl-C the way an interactive run does."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_once_written(cmd: list, marker: Path, timeout: float = 300) -> tuple[int, str]:
    """Runs a CLI, sends it Ctrl-C (SIGINT) once `marker` (its first checkpoint) exists, and returns
    (exit code, stderr)."""
    import os
    import signal
    import subprocess
    import time

    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [str(c) for c in cmd],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
        preexec_fn=default_sigint,
    )
    deadline = time.time() + timeout
    while not marker.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    return proc.returncode, stderr


def assert_ctrl_c_says_resume(cmd: list, marker: Path) -> str:
    """Ctrl-C once `marker` exists: exit status 130 and a resume hint on stderr, no traceback; returns stderr."""
    code, stderr = interrupt_once_written(cmd, marker)
    assert code == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted; resume with:" in stderr and "--resume" in stderr
    return stderr
