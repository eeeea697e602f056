"""ctypes access to the C++ specification: onion::gemm_model, the blackbox C model, the cycle model.

The shared library is built from gemm_ref.cpp with sim.cxx.compile_cxx (cached under build/cxx).
Inside a cocotb simulator process the path comes from the MAC_REF_LIB environment variable, so
the simulator never compiles anything itself.
"""

from __future__ import annotations

import ctypes
import functools
import os
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

HERE = Path(__file__).resolve().parent
_I16 = np.ctypeslib.ndpointer(dtype=np.int16, flags="C_CONTIGUOUS")


def build_library() -> Path:
    from sim.cxx import compile_cxx

    return compile_cxx([HERE / "gemm_ref.cpp"], "mac_array_ref", shared=True)


@functools.cache
def library(path: str | None = None) -> ctypes.CDLL:
    path = path or os.environ.get("MAC_REF_LIB") or str(build_library())
    lib = ctypes.CDLL(path)
    # every GEMM entry ends in: bias (nullable), bias_lshift, C, M, N, K, shift, saturation count
    tail = [ctypes.c_void_p, ctypes.c_int, _I16, *[ctypes.c_int] * 4, ctypes.POINTER(ctypes.c_uint32)]
    lib.onion_gemm_ref.restype = ctypes.c_uint64
    lib.onion_gemm_ref.argtypes = [_I16, _I16, *tail]  # A, B
    lib.onion_gemm_blackbox.restype = ctypes.c_int
    lib.onion_gemm_blackbox.argtypes = [*[ctypes.c_int] * 3, _I16, _I16, *tail]  # rows, cols, max_m, A, B
    lib.onion_gemm_engine_entry.restype = None
    lib.onion_gemm_engine_entry.argtypes = [_I16, ctypes.c_void_p, _I16, *tail]  # A, A's row list (nullable), B
    lib.onion_gemm_cycles.restype = ctypes.c_uint64
    lib.onion_gemm_cycles.argtypes = [ctypes.c_int] * 7
    lib.onion_gemm_cycles_default.restype = ctypes.c_uint64
    lib.onion_gemm_cycles_default.argtypes = [ctypes.c_int] * 4
    return lib


def _operands(a: ArrayLike, b: ArrayLike, bias: ArrayLike | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    a = np.ascontiguousarray(a, dtype=np.int16)
    b = np.ascontiguousarray(b, dtype=np.int16)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"A must be [M][K] and B [N][K]; got A {a.shape}, B {b.shape}")
    if bias is not None:
        bias = np.ascontiguousarray(bias, dtype=np.int16)
        if bias.shape != (b.shape[0],):
            raise ValueError(f"bias must have N={b.shape[0]} entries; got {bias.shape}")
    return a, b, bias


def _gemm(
    entry: str, leading: list, m: int, k: int, b: np.ndarray, bias: np.ndarray | None, bias_lshift: int, shift: int
) -> tuple[np.ndarray, int, int]:
    """Calls a C GEMM entry with its own leading arguments and the common tail; returns (C [m][N],
    saturations, the entry's return value)."""
    c = np.zeros((m, b.shape[0]), dtype=np.int16)
    sat = ctypes.c_uint32(0)
    bias_ptr = None if bias is None else bias.ctypes.data
    rc = getattr(library(), entry)(*leading, bias_ptr, bias_lshift, c, m, b.shape[0], k, shift, ctypes.byref(sat))
    return c, int(sat.value), rc


def gemm_ref(
    a: ArrayLike, b: ArrayLike, bias: ArrayLike | None = None, bias_lshift: int = 0, shift: int = 0
) -> tuple[np.ndarray, int]:
    """C = requantize(bias << bias_lshift + A B^T, shift) by onion::gemm_model; returns (C, saturations)."""
    a, b, bias = _operands(a, b, bias)
    c, sat, _ = _gemm("onion_gemm_ref", [a, b], a.shape[0], a.shape[1], b, bias, bias_lshift, shift)
    return c, sat


def gemm_blackbox(
    rows: int,
    cols: int,
    a: ArrayLike,
    b: ArrayLike,
    bias: ArrayLike | None = None,
    bias_lshift: int = 0,
    shift: int = 0,
    max_m: int = 512,
) -> tuple[np.ndarray, int]:
    """The same product through mac_array_blackbox.h's stream packing and C model."""
    a, b, bias = _operands(a, b, bias)
    leading = [rows, cols, max_m, a, b]
    c, sat, rc = _gemm("onion_gemm_blackbox", leading, a.shape[0], a.shape[1], b, bias, bias_lshift, shift)
    if rc != 0:
        raise ValueError(f"gemm_ref.cpp has no blackbox model for a {rows}x{cols} array")
    return c, sat


def gemm_engine_entry(
    a: ArrayLike,
    b: ArrayLike,
    bias: ArrayLike | None = None,
    bias_lshift: int = 0,
    shift: int = 0,
    a_rows: ArrayLike | None = None,
) -> tuple[np.ndarray, int]:
    """onion::mac_array_rtl_gemm (the engine's call under ONION_USE_RTL_GEMM, default geometry) with
    the rows of A gathered by the index list a_rows."""
    a, b, bias = _operands(a, b, bias)
    rows = None
    m = a.shape[0]
    if a_rows is not None:
        rows = np.ascontiguousarray(a_rows, dtype=np.int32)
        if rows.ndim != 1 or (rows < 0).any() or (rows >= a.shape[0]).any():
            raise ValueError(f"a_rows must index the {a.shape[0]} rows of A")
        m = len(rows)
    leading = [a, None if rows is None else rows.ctypes.data, b]
    c, sat, _ = _gemm("onion_gemm_engine_entry", leading, m, a.shape[1], b, bias, bias_lshift, shift)
    return c, sat


def cycles_cxx(rows: int, cols: int, max_m: int, m: int, n: int, k: int, bias: bool = False) -> int:
    """onion::gemm_cycles_on from mac_array_timing.h."""
    return int(library().onion_gemm_cycles(rows, cols, max_m, m, n, k, int(bias)))


def cycles_cxx_default(m: int, n: int, k: int, bias: bool = False) -> int:
    return int(library().onion_gemm_cycles_default(m, n, k, int(bias)))
