"""Atomic file writes for everything the host leaves on disk (bundles, checkpoints, logs, reports).

A file is written to a temporary sibling, synced and renamed over its final name, so a crash or an
error never leaves a half-written file behind (the temporary is removed on any failure).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np


def _default_mode() -> int:
    """0666 less the umask: what open() would give (mkstemp's temporaries are 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: Path, write: Callable[[IO], None], mode: str = "wb") -> None:
    """Calls write(f) on a temporary file next to `path`, then renames it to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_savez(path: Path, arrays: dict) -> None:
    """np.savez(path, **arrays), atomically (plain arrays only; readers load with allow_pickle=False)."""
    atomic_write(path, lambda f: np.savez(f, **arrays))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text), mode="w")
