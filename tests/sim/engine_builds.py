"""Whole-layer runs of the engine's test bench under different builds, compared file by file.

The cases are DeiT-Tiny encoder blocks (ATTN_FWD, MLP_FWD, MLP_BWD, ATTN_BWD), dense and
pruned + sparse, written once per session by sim/golden.py. Each build runs its own copy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from sim import golden
from sim.cxx import compile_cxx
from sim.toolchain import REPO

TB_SOURCES = [REPO / "hw" / "tb" / "tb_onion_engine.cpp", REPO / "hw" / "src" / "onion_engine.cpp"]
OUTPUTS = ("out_wts.bin", "out_act.bin", "out_grd.bin", "out_aux.bin", "calls_out.txt")


def write_deit_tiny_cases(root: Path) -> list[str]:
    cases = [
        golden.block_case(
            "deit_tiny_patch16_224", keep_ratio=1.0, r_a=1.0, sparse=False, seed=61, name="deit_tiny_dense"
        ),
        golden.block_case(
            "deit_tiny_patch16_224", keep_ratio=0.7, r_a=0.3, sparse=True, seed=62, name="deit_tiny_pruned_sparse"
        ),
    ]
    index = [golden.write_case(c, root) for c in cases]
    (root / "manifest.txt").write_text("".join(f"{e['dir']}\n" for e in index))
    (root / "index.json").write_text(json.dumps(dict(cases=index)))
    return [e["dir"] for e in index]


# the RTL blackbox's C model: the blackbox JSON's c_file, linked only into ONION_USE_RTL_GEMM builds
RTL_C_MODEL = REPO / "hw" / "rtl" / "mac_array_model.cpp"


def build_tb(name: str, flags: list[str], bounded: bool = False, synth_check: bool = False) -> Path:
    model = [RTL_C_MODEL] if "-DONION_USE_RTL_GEMM" in flags else []
    return compile_cxx(
        TB_SOURCES,
        name,
        bounded=bounded,
        synth_check=synth_check,
        csim_sources=model,
        extra_flags=["-Wno-unknown-pragmas", "-Wno-maybe-uninitialized", *flags],
    )


def run_tb(exe: Path, cases_root: Path, work: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    """Runs the bench on a fresh copy of the cases in `work`."""
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(cases_root, work)
    env = dict(os.environ, ONION_BOUNDED_STATS="1")
    return subprocess.run([str(exe), str(work)], capture_output=True, text=True, timeout=timeout, env=env)


def differing_outputs(a: Path, b: Path, dirs: list[str]) -> list[str]:
    return [f"{d}/{f}" for d in dirs for f in OUTPUTS if (a / d / f).read_bytes() != (b / d / f).read_bytes()]
