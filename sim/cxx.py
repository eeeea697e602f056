"""Builds the engine's C++ with g++ the way C-simulation does: ap_types from hls4ml, -isystem.

Outputs are cached under build/cxx/ by a hash of the sources, flags and headers, so repeated test
runs do not recompile.
"""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from host import engine_spec

from .toolchain import BUILD, REPO, ap_types_include, require_program

HW_INCLUDE = REPO / "hw" / "include"
SIM_INCLUDE = REPO / "sim" / "include"   # Vitis-API hls_stream.h for open-source builds (before ap_types)
SHARED_FLAGS = ("-shared", "-fPIC")


def base_flags() -> list[str]:
    """The C-sim flags declared in the engine spec (the one list), minus the shared-library ones."""
    return [f for f in engine_spec.load_spec()["csim_build"]["cxxflags"] if f not in SHARED_FLAGS]


def _digest(paths: list[Path], extra: list[str]) -> str:
    h = hashlib.sha256()
    headers = sorted(HW_INCLUDE.rglob("*.h")) + sorted(SIM_INCLUDE.rglob("*.h"))
    for p in list(paths) + headers:
        h.update(str(p).encode())
        h.update(p.read_bytes())
    h.update("\0".join(extra).encode())
    return h.hexdigest()[:16]


def compile_cxx(sources: list[Path | str], name: str, shared: bool = False,
                extra_flags: list[str] | None = None) -> Path:
    """Compiles sources into build/cxx/<name>-<hash>[.so]; returns the output path."""
    require_program("g++")
    sources = [Path(s).resolve() for s in sources]
    flags = base_flags() + list(extra_flags or [])
    if shared:
        flags += list(SHARED_FLAGS)
    out_dir = BUILD / "cxx"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{name}-{_digest(sources, flags)}{'.so' if shared else ''}"
    if out.exists():
        return out
    tmp = out.with_name(out.name + ".tmp")
    cmd = ["g++", *flags, "-I", str(SIM_INCLUDE), "-isystem", str(ap_types_include()), "-I", str(HW_INCLUDE),
           *map(str, sources), "-o", str(tmp)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"g++ failed for {name}:\n{' '.join(cmd)}\n{result.stderr}")
    tmp.replace(out)  # atomic: a half-written binary is never picked up
    return out
