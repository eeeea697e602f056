"""C-sim backend: the HLS engine's C++ compiled for the CPU, driven through ctypes (numpy only).

The engine sees four memories (ports wts/act/grd/aux) exactly as on the board; registers are a
uint32 image indexed by byte offset / 4, laid out as hw/spec/engine_spec.json declares.

Building: `build_library()` compiles hw/src/csim_entry.cpp with the flags of the spec's
"csim_build" section (the one list of flags; sim/ reads the same) into build/csim/, cached by a
hash of sources, headers and flags. `CsimBackend(lib_path=...)` loads a given library instead.

Lanes (host/engine_lanes.py): `CsimBackend(lane=k)` loads its own copy of the library, a separate
dlopen instance with its own static on-chip buffers, so lanes run on separate threads (ctypes
releases the GIL during a call). The build's -fno-gnu-unique keeps the statics of inline and
template functions per instance instead of merged process-wide.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import threading
from pathlib import Path

import numpy as np

from host import cxx_build, engine_spec
from host.backends.base import (  # noqa: F401 (re-exported)
    PORT_DTYPES,
    EngineError,
    PortMemoryBackend,
    Region,
    read_counter_registers,
    zero_counters,
)
from host.backends.call_plan import call_dims

REPO = Path(__file__).resolve().parents[2]


def build_library(force: bool = False) -> Path:
    """Compiles the engine into a shared library (cached); returns its path."""
    build = engine_spec.load_spec()["csim_build"]
    return cxx_build.gxx(
        [REPO / s for s in build["sources"]],
        REPO / "build" / "csim",
        "libonion_engine",
        list(build["cxxflags"]),
        include_dirs=[REPO / d for d in build["include_dirs"]],
        suffix=".so",
        force=force,
        what="the C-sim engine",
    )


def lane_library(lane: int) -> Path:
    """The library of C-sim lane `lane`: the build itself for lane 0, a copy of it for the others."""
    lib = build_library()
    if lane == 0:
        return lib
    copy = lib.with_name(f"{lib.stem}-lane{lane}{lib.suffix}")
    built = lib.stat()
    if not copy.exists() or copy.stat().st_mtime < built.st_mtime or copy.stat().st_size != built.st_size:
        # a new file (not a link: dlopen would hand back the loaded instance), refreshed after a rebuild
        tmp = copy.with_name(f"{copy.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        shutil.copyfile(lib, tmp)
        os.replace(tmp, copy)
    return copy


class CsimBackend(PortMemoryBackend):
    """The engine on the CPU. Memories are numpy arrays; `call` runs one op synchronously."""

    kind = "csim"

    def __init__(self, words: dict[str, int] | None = None, lib_path: str | Path | None = None, lane: int = 0):
        spec = engine_spec.load_spec()
        self.mem = {port: np.zeros(n, dtype=dtype) for port, (n, dtype) in self._port_words(words).items()}
        self._init_common()
        self._lib = ctypes.CDLL(str(lib_path or lane_library(lane)))
        fn = getattr(self._lib, spec["csim_build"]["entry"])
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.c_void_p] * 5
        self._entry = fn
        check = self._lib.onion_csim_validate
        check.restype = ctypes.c_int
        check.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self._validate = check
        self._regs = np.zeros(max(r["offset"] for r in engine_spec.registers()) // 4 + 2, dtype=np.uint32)
        # Spec look-ups done once: a training step makes thousands of calls.
        self._word = {r["name"]: r["offset"] // 4 for r in engine_spec.registers()}
        self._names = {engine_spec.opcode(n): n for n in engine_spec.op_names()}
        self._declared = {n: frozenset(engine_spec.op(n)["regs"]) for n in engine_spec.op_names()}
        self._n_tensors = {n: len(engine_spec.op_tensors(n)) for n in engine_spec.op_names()}
        self._flag_sparse, self._flag_gather = engine_spec.flag("SPARSE"), engine_spec.flag("GATHER")
        self._flag_accumulate = engine_spec.flag("GRAD_ACCUMULATE")
        self._regions: dict[tuple, dict] = {}
        # the memories never move (slices are written in place): their addresses are taken once
        self._regs_ptr = self._regs.ctypes.data
        self._aux_ptr = self.mem["aux"].ctypes.data
        self._port_ptrs = [self.mem[p].ctypes.data for p in self.PORTS]

    # -- calls --
    def call(self, op: str | int, **registers: int) -> int:
        """Runs one op; registers by name (engine_spec.json). Returns the status (0 = OK)."""
        code = engine_spec.opcode(op) if isinstance(op, str) else int(op)
        self._regs[:] = 0
        self._regs[self._word["opcode"]] = code
        for name, value in self._register_values(registers).items():
            self._regs[self._word[name]] = value
        name = self._op_name(code)
        if name is not None:  # unknown op codes go to the engine, which rejects them
            self._check_lists(name, registers)
            status = self._validate(self._regs_ptr, self._aux_ptr)
            if status != 0:  # rejected before anything runs, as the engine itself would
                self._last = zero_counters(int(status))
                return int(status)
            self._check_regions(name, registers)
        self._entry(self._regs_ptr, *self._port_ptrs)
        self._last = self._read_outputs()
        return self._last["status"]

    # -- buffer bounds (the C++ trusts its offsets; out-of-range ones would corrupt this process) --
    def _op_name(self, code: int) -> str | None:
        return self._names.get(code)

    def _fits(self, name: str, reg: str, port: str, offset: int, words: int) -> None:
        if offset + words > self.mem[port].size:
            raise ValueError(
                f"{name}: {reg}={offset} + {words} words runs past the {port} memory ({self.mem[port].size} words)"
            )

    def _uses(self, name: str, reg: str, registers: dict) -> bool:
        flags = int(registers.get("flags", 0))
        if reg == "keys_off":
            return bool(flags & self._flag_sparse)
        if reg == "keep_off":
            return bool(flags & self._flag_gather)
        if reg == "gacc_off":
            return bool(flags & self._flag_accumulate)
        return reg in self._declared[name]

    def _check_lists(self, name: str, registers: dict) -> None:
        """The aux words the engine's own validation reads (key lists, keep list, frac table)."""
        n = int(registers.get("n_tokens", 0))
        if self._uses(name, "keys_off", registers):
            off = int(registers.get("keys_off", 0))
            self._fits(name, "keys_off", "aux", off, n + 1)
            z = int(self.mem["aux"][off + n]) if n >= 0 else 0
            self._fits(name, "keys_off", "aux", off, n + 1 + max(z, 0))
        if self._uses(name, "keep_off", registers):
            self._fits(name, "keep_off", "aux", int(registers.get("keep_off", 0)), int(registers.get("n_keep", 0)))
        # with GRAD_ACCUMULATE the frac table carries the accumulator fracs too (grad_accumulation)
        tables = 2 if int(registers.get("flags", 0)) & self._flag_accumulate else 1
        if "fracs_off" in self._declared[name]:
            self._fits(name, "fracs_off", "aux", int(registers.get("fracs_off", 0)), tables * self._n_tensors[name])
        self._fits(name, "stats_off", "aux", int(registers.get("stats_off", 0)), tables * 2 * self._n_tensors[name])

    def _check_regions(self, name: str, registers: dict) -> None:
        dims = call_dims(registers, self.mem["aux"], name)  # the same layout symbols the pynq cache plan uses
        key = (name, *dims.values())
        regions = self._regions.get(key)
        if regions is None:
            regions = self._regions[key] = engine_spec.op_regions(name, **dims)
        for reg, (port, words) in regions.items():
            if self._uses(name, reg, registers):
                self._fits(name, reg, port, int(registers.get(reg, 0)), words)

    def _read_outputs(self) -> dict:
        """Counters of the call just run (cycles: the modelled MAC-array cycles)."""
        words, index = self._regs.tolist(), self._word  # one conversion, then plain list reads
        return read_counter_registers(lambda name: words[index[name]])
