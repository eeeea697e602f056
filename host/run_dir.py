"""Run directories both trainers share: a named folder inside an output root, never clobbered.

A new run refuses a folder that already holds files unless the user asked to resume or to
overwrite; names stay inside the output root; everything is checked before any file is written.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO / "runs"  # absolute: the same folder whatever the working directory


def run_dir_in(output: str | Path, experiment: str) -> Path:
    """output/experiment, where experiment is one plain folder name (no separators, no '..')."""
    name = str(experiment)
    if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith("~"):
        raise ValueError(f"experiment={name!r}: must be a plain folder name inside the output directory")
    return Path(output).expanduser() / name


def check_writable(path: Path, what: str = "output") -> None:
    """path (or, where it does not exist yet, its nearest existing parent) must be a writable folder."""
    probe = Path(path)
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ValueError(f"{what}={str(path)!r}: {str(probe)!r} is a file, not a folder")
    try:  # a real probe (os.access says yes to root, and knows nothing of read-only mounts)
        fd, tmp = tempfile.mkstemp(prefix=".onion-write-probe-", dir=probe)
    except OSError as exc:
        raise PermissionError(f"{what}={str(path)!r}: cannot write in {str(probe)!r} ({exc.strerror})") from None
    os.close(fd)
    os.unlink(tmp)


def check_fresh(run_dir: Path, overwrite: bool, resume_hint: str = "--resume") -> None:
    """A new run's folder must be absent or empty, unless overwrite."""
    if run_dir.is_dir() and any(run_dir.iterdir()) and not overwrite:
        raise ValueError(
            f"output {str(run_dir)!r} already holds a run; continue it with {resume_hint}, "
            f"pick another --experiment, or pass --overwrite to replace it"
        )
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"output {str(run_dir)!r} is a file, not a folder")


def clear_outputs(run_dir: Path, names: Iterable[str]) -> None:
    """--overwrite: removes the files a previous run of this tool left (nothing else)."""
    for name in names:
        path = run_dir / name
        if path.is_file() or path.is_symlink():
            path.unlink()


def find_checkpoint(resume: str, candidates: list[Path], name: str) -> Path:
    """--resume's checkpoint for both trainers: `resume` names a run folder or a file, else ("auto") the
    first of `candidates` that exists; a one-line FileNotFoundError when there is none."""
    if resume not in ("auto", ""):
        path = Path(resume).expanduser()
        path = path / name if path.is_dir() else path
    else:
        path = next((c for c in candidates if c.is_file()), candidates[0])
    if not path.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint at {path}")
    return path
