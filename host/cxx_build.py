"""One cached, atomic g++ build, shared by the host's C-sim library (host/backends/csim.py) and the
verification builds of sim/cxx.py (numpy-free, torch-free).

The output is named <stem>-<hash><suffix> under `out_dir`, the hash covering the sources, every header
under the hashed include folders and the flags, so an unchanged build is found again and a changed one
never is. It is written under a temporary name and renamed, so no process ever loads a half-written file.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _key(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def build_hash(sources: Iterable[Path], hashed_dirs: Iterable[Path], flags: Iterable[str]) -> str:
    h = hashlib.sha256()
    headers = sorted(p for d in hashed_dirs for p in Path(d).rglob("*.h"))
    for path in [*map(Path, sources), *headers]:
        h.update(_key(path).encode())
        h.update(path.read_bytes())
    h.update("\0".join(flags).encode())
    return h.hexdigest()[:16]


def gxx(
    sources: list[Path],
    out_dir: Path,
    stem: str,
    flags: list[str],
    include_dirs: Iterable[Path] = (),
    system_dirs: Iterable[Path] = (),
    libs: Iterable[str] = (),
    suffix: str = "",
    force: bool = False,
    hashed_dirs: Iterable[Path] | None = None,
    what: str | None = None,
) -> Path:
    """Compiles (and links) `sources` with g++; returns the cached output's path. `include_dirs` are -I,
    `system_dirs` -isystem (vendor headers, not hashed), `libs` go after the sources; the headers under
    `hashed_dirs` (default: include_dirs; name there any folder the flags add with -I) key the cache."""
    include_dirs, system_dirs = list(include_dirs), list(system_dirs)
    sources = [Path(s).resolve() for s in sources]
    hashed = include_dirs if hashed_dirs is None else list(hashed_dirs)
    out = Path(out_dir) / f"{stem}-{build_hash(sources, hashed, flags)}{suffix}"
    if out.exists() and not force:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    cmd = [
        "g++",
        *flags,
        *(f"-I{d}" for d in include_dirs),
        *(a for d in system_dirs for a in ("-isystem", str(d))),
        *map(str, sources),
        "-o",
        str(tmp),
        *libs,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"g++ failed for {what or stem}:\n{' '.join(cmd)}\n{result.stderr}")
    tmp.replace(out)
    return out
