"""Measures the error of the engine's fixed-point nonlinear functions and writes docs/nonlinear.md.

    python -m sim.nonlinear_report            # measure, print, write docs/nonlinear.md

The C++ (hw/include/onion/nonlinear.h) runs through a small driver (hw/tb/tb_nonlinear.cpp)
compiled with sim.cxx; the reference is float64 numpy/scipy. tests/hw/test_nonlinear.py asserts the
bounds declared here (ERROR_BOUNDS), so the documented numbers and the tested ones share one source.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import erf

from hw.gen import nonlinear_tables as tables

from .cxx import compile_cxx
from .toolchain import REPO

DRIVER_SOURCE = REPO / "hw" / "tb" / "tb_nonlinear.cpp"
DOC = REPO / "docs" / "nonlinear.md"
UINT32_MAX = 2**32 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
QUANT_FLOOR_LSB = 2**10  # relative errors are quoted where the exact result is at least this many LSBs


def _normal_cdf(v: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + erf(v / np.sqrt(2.0)))


def _gelu(v: np.ndarray) -> np.ndarray:
    return v * _normal_cdf(v)


def _gelu_grad(v: np.ndarray) -> np.ndarray:
    return _normal_cdf(v) + v * np.exp(-0.5 * v * v) / np.sqrt(2.0 * np.pi)


@dataclass(frozen=True)
class Bound:
    """|result - exact| <= 0.5 LSB (the rounding) + rel * |exact| + abs (abs in real units)."""

    rel: float = 0.0
    abs: float = 0.0


@dataclass(frozen=True)
class Function:
    driver_name: str  # FUNC argument of the driver
    cxx_name: str
    arg_dtype: type  # how the driver reads the argument (int32, uint32, uint64)
    out_range: tuple[int, int]
    reference: Callable[[np.ndarray], np.ndarray]
    bound: Bound


FUNCTIONS = {
    "exp": Function(
        "exp", "exp_neg_fx", np.int32, (0, INT32_MAX), lambda v: np.exp(np.minimum(v, 0.0)), Bound(rel=1e-7)
    ),
    "reciprocal": Function("recip", "reciprocal_fx", np.uint32, (0, UINT32_MAX), lambda v: 1.0 / v, Bound(rel=1e-7)),
    "rsqrt": Function("rsqrt", "rsqrt_fx", np.uint64, (0, UINT32_MAX), lambda v: 1.0 / np.sqrt(v), Bound(rel=1e-7)),
    # the quadratic pieces are ~5e-7 (Phi) and ~2e-6 (Phi + t phi) off; gelu multiplies by |x| < 8
    "gelu": Function("gelu", "gelu_fx", np.int32, (INT32_MIN, INT32_MAX), _gelu, Bound(abs=4e-6)),
    "gelu_grad": Function("gelu_grad", "gelu_grad_fx", np.int32, (INT32_MIN, INT32_MAX), _gelu_grad, Bound(abs=3e-6)),
}
ERROR_BOUNDS = {name: f.bound for name, f in FUNCTIONS.items()}


def driver() -> Path:
    return compile_cxx([DRIVER_SOURCE], "nonlinear_driver")


def run(name: str, args: np.ndarray, fx: int, fo: int) -> np.ndarray:
    """The C++ results (int64) of FUNCTIONS[name] for integer arguments `args`."""
    if name not in FUNCTIONS:
        raise ValueError(f"function: unknown '{name}', expected one of {sorted(FUNCTIONS)}")
    fn = FUNCTIONS[name]
    args = np.asarray(args)
    info = np.iinfo(fn.arg_dtype)
    if args.size and (int(args.min()) < info.min or int(args.max()) > info.max):
        raise ValueError(f"args: {name} takes {np.dtype(fn.arg_dtype).name} arguments")
    payload = args.astype(np.uint64).view(np.int64) if fn.arg_dtype == np.uint64 else args.astype(np.int64)
    proc = subprocess.run(
        [str(driver()), fn.driver_name, str(fx), str(fo)], input=payload.astype("<i8").tobytes(), capture_output=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"nonlinear driver failed ({name} fx={fx} fo={fo}): {proc.stderr.decode()}")
    return np.frombuffer(proc.stdout, dtype="<i8").astype(np.int64)


def exact_lsb(name: str, args: np.ndarray, fx: int, fo: int) -> np.ndarray:
    """The float64 reference in output LSBs, clipped to the output range (the C++ saturates)."""
    fn = FUNCTIONS[name]
    real = np.asarray(args, dtype=np.float64) * 2.0**-fx
    with np.errstate(divide="ignore", over="ignore"):
        value = fn.reference(real) * 2.0**fo
    return np.clip(value, *fn.out_range)


@dataclass
class Errors:
    count: int
    max_abs_lsb: float  # max |result - exact| in output LSBs
    mean_abs_lsb: float
    mean_lsb: float  # signed mean error (bias) in output LSBs
    max_rel: float  # max relative error where |exact| >= QUANT_FLOOR_LSB LSBs
    max_excess_rel: float  # max (|error| - 0.5 LSB) / |exact|: the error beyond the final rounding
    max_excess_abs: float  # max (|error| - 0.5 LSB) in real units
    bound_ok: bool  # every point within FUNCTIONS[name].bound


def measure(name: str, args: np.ndarray, fx: int, fo: int) -> Errors:
    got = run(name, args, fx, fo).astype(np.float64)
    exact = exact_lsb(name, args, fx, fo)
    err = np.abs(got - exact)
    big = np.abs(exact) >= QUANT_FLOOR_LSB
    excess = err - 0.5
    bound = FUNCTIONS[name].bound
    allowed = 0.5 + bound.rel * np.abs(exact) + bound.abs * 2.0**fo
    return Errors(
        count=int(err.size),
        max_abs_lsb=float(err.max()),
        mean_abs_lsb=float(err.mean()),
        mean_lsb=float((got - exact).mean()),
        max_rel=float((err[big] / np.abs(exact[big])).max()) if big.any() else float("nan"),
        max_excess_rel=float((excess / np.maximum(np.abs(exact), 1.0)).max()),
        max_excess_abs=float(excess.max() * 2.0**-fo),
        bound_ok=bool((err <= allowed).all()),
    )


# ---- input sweeps (shared with the test) --------------------------------------------------------


def log_uniform_ints(
    rng: np.random.Generator, lo: float, hi: float, n: int, dtype: type[np.integer] = np.int64
) -> np.ndarray:
    """n integers spread evenly in log space over [lo, hi] (0 < lo <= hi, hi exact in float64)."""
    values = np.floor(np.exp(rng.uniform(np.log(lo), np.log(hi), n)))
    return np.clip(values, lo, hi).astype(dtype)


def edge_args(name: str) -> np.ndarray:
    """Type limits, values around 0 and, for the normalising units, every power of two and 2^k - 1."""
    dtype = FUNCTIONS[name].arg_dtype
    info = np.iinfo(dtype)
    lo, hi = int(info.min), int(info.max)
    base = {v for v in (lo, lo + 1, hi - 1, hi, -3, -2, -1, 0, 1, 2, 3) if lo <= v <= hi}
    if name in ("reciprocal", "rsqrt"):
        base.discard(0)  # x == 0 saturates: checked on its own
        base |= {1 << k for k in range(info.bits)} | {(1 << k) - 1 for k in range(2, info.bits + 1)}
    return np.array(sorted(base), dtype=dtype)


def typical_sweeps(rng: np.random.Generator) -> list[tuple[str, int, int, str, np.ndarray]]:
    """(function, fx, fo, description, args) for the engine's uses, dense + random."""
    gelu_dense = np.arange(-32768, 32768, dtype=np.int64)  # every activation word, fx=8: |x| <= 128
    softmax = np.arange(-32 * 1024, 1, dtype=np.int64)  # score - rowmax, attn_score fx=10
    row_sum = np.concatenate([np.arange(1 << 15, 197 << 15, 61), rng.integers(1 << 15, 197 << 15, 50_000)])
    var16 = np.unique(np.concatenate([np.arange(1, 1 << 16), log_uniform_ints(rng, 1, 1e4 * 2**16, 100_000)]))
    var24 = log_uniform_ints(rng, 1e-5 * 2**24, 1e4 * 2**24, 200_000)
    every_activation = "x in [-128, 128), every int16 word"
    sweeps = [  # (function, fx, the fo values used, description, args)
        ("exp", 10, (15, 16), "x in [-32, 0], every word", softmax),
        ("reciprocal", 15, (16, 24), "x in [1, 197]: every 61st word + 50k random", row_sum),
        ("rsqrt", 16, (16,), "x in [2^-16, 1e4]: all x < 1, log-uniform above", var16),
        ("rsqrt", 24, (20, 24), "x in [1e-5, 1e4]: log-uniform", var24),
        ("gelu", 8, (8, 12), every_activation, gelu_dense),
        ("gelu_grad", 8, (8, 12, 16), every_activation, gelu_dense),
    ]
    return [(name, fx, fo, what, args) for name, fx, fos, what, args in sweeps for fo in fos]


def full_range_args(name: str, rng: np.random.Generator, n: int) -> np.ndarray:
    """Random arguments over the whole argument type (log-uniform magnitudes) plus edges."""
    fn = FUNCTIONS[name]
    info = np.iinfo(fn.arg_dtype)
    if fn.arg_dtype == np.uint64:
        rand = log_uniform_ints(rng, 1, float(np.nextafter(2.0**64, 0)), n, np.uint64)
    elif name == "reciprocal":
        rand = log_uniform_ints(rng, 1, float(info.max), n)
    else:
        mag = log_uniform_ints(rng, 1, 2.0**31, n)
        rand = np.where(rng.random(n) < 0.5, -mag, np.minimum(mag, info.max))
        if name == "exp":
            rand = -np.abs(rand)
    return np.concatenate([rand.astype(fn.arg_dtype), edge_args(name)])


FULL_RANGE_FORMATS = {  # (fx, fo) pairs exercised over the full argument range
    "exp": [(0, 30), (10, 16), (16, 30), (31, 0), (31, 30), (4, 8)],
    "reciprocal": [(0, 31), (15, 16), (15, 24), (31, 0), (24, 20), (8, 8)],
    "rsqrt": [(0, 31), (16, 16), (24, 20), (32, 16), (48, 24), (63, 0)],
    "gelu": [(0, 0), (8, 8), (8, 12), (16, 16), (24, 12), (31, 30)],
    "gelu_grad": [(0, 8), (8, 8), (8, 12), (16, 16), (24, 12), (31, 14)],
}


# ---- the report ----------------------------------------------------------------------------------


def _methods() -> dict[str, tuple[str, str]]:
    t = tables
    word = 32
    exp_bits = ((1 << t.EXP2_HI_BITS) + (1 << t.EXP2_LO_BITS)) * word
    recip_bits = (1 << t.RECIP_SEED_BITS) * word
    rsqrt_bits = ((1 << t.RSQRT_SEED_BITS) - t.RSQRT_SEED_FIRST) * word
    gelu_bits = t.GELU_SEGMENTS * 3 * word
    return {
        "exp": (
            f"-x log2(e) = n + f (one 32x32 multiply); 2^-f = EXP2_HI[{1 << t.EXP2_HI_BITS}] x "
            f"EXP2_LO[{1 << t.EXP2_LO_BITS}] x (1 - r ln 2) on the last {32 - t.EXP2_HI_BITS - t.EXP2_LO_BITS} "
            "fraction bits; 2^-n is a rounded right shift.",
            f"{(1 << t.EXP2_HI_BITS) + (1 << t.EXP2_LO_BITS)} x 32 bit ({exp_bits} bits)",
        ),
        "reciprocal": (
            f"leading-zero count normalises x to M in [0.5, 1); seed 1/M from a {1 << t.RECIP_SEED_BITS}-entry "
            "ROM (equal-ripple per interval), 2 Newton steps y(2 - My) in Q30; the exponent becomes a shift.",
            f"{1 << t.RECIP_SEED_BITS} x 32 bit ({recip_bits} bits)",
        ),
        "rsqrt": (
            "leading-zero count normalises x to M 2^e with e even, M in [0.25, 1); seed M^-1/2 from a "
            f"{(1 << t.RSQRT_SEED_BITS) - t.RSQRT_SEED_FIRST}-entry ROM, 2 Newton steps y(3 - My^2)/2 in Q30; "
            "2^(-e/2) is a shift.",
            f"{(1 << t.RSQRT_SEED_BITS) - t.RSQRT_SEED_FIRST} x 32 bit ({rsqrt_bits} bits)",
        ),
        "gelu": (
            f"x Phi(x); Phi(|x|) from {t.GELU_SEGMENTS} quadratic pieces (width 2^-{t.GELU_SEG_BITS}) on "
            f"[0, {1 << t.GELU_RANGE_LOG2}), Chebyshev-node fit, Horner in Q30; Phi(-t) = 1 - Phi(t); "
            f"Phi = 1 beyond {1 << t.GELU_RANGE_LOG2}.",
            f"{t.GELU_SEGMENTS} x 3 x 32 bit ({gelu_bits} bits)",
        ),
        "gelu_grad": (
            f"g(t) = Phi(t) + t phi(t) from {t.GELU_SEGMENTS} quadratic pieces on [0, {1 << t.GELU_RANGE_LOG2}); "
            "derivative = g(x) for x >= 0 and 1 - g(-x) for x < 0; 1 (x >= 8) or 0 (x <= -8) beyond the range.",
            f"{t.GELU_SEGMENTS} x 3 x 32 bit ({gelu_bits} bits)",
        ),
    }


def _fmt(v: float) -> str:
    return "n/a" if v != v else f"{v:.3g}"


def _row(name: str, fx: int, fo: int, what: str, e: Errors) -> str:
    return (
        f"| {FUNCTIONS[name].cxx_name} | {fx} | {fo} | {what} | {e.count} | {_fmt(e.max_abs_lsb)} | "
        f"{_fmt(e.mean_abs_lsb)} | {_fmt(e.mean_lsb)} | {_fmt(e.max_rel)} | {_fmt(max(e.max_excess_rel, 0.0))} | "
        f"{_fmt(max(e.max_excess_abs, 0.0))} | "
        f"{'yes' if e.bound_ok else '**NO**'} |"
    )


def build_report(seed: int = 0) -> tuple[str, bool]:
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    header = (
        "| function | fx | fo | inputs | count | max abs err (LSB) | mean abs err (LSB) | "
        f"mean err (LSB) | max rel err (exact >= {QUANT_FLOOR_LSB} LSB) | beyond rounding: max rel | "
        "beyond rounding: max abs | within bound |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    typical, full, all_ok = [], [], True
    sweeps = typical_sweeps(rng)
    full_jobs = [(n, fx, fo) for n, pairs in FULL_RANGE_FORMATS.items() for fx, fo in pairs]
    with tqdm(total=len(sweeps) + len(full_jobs), desc="nonlinear errors", file=sys.stderr) as bar:
        for name, fx, fo, what, args in sweeps:
            e = measure(name, args, fx, fo)
            all_ok &= e.bound_ok
            typical.append(_row(name, fx, fo, what, e))
            bar.update()
        for name, fx, fo in full_jobs:
            e = measure(name, full_range_args(name, rng, 50_000), fx, fo)
            all_ok &= e.bound_ok
            full.append(_row(name, fx, fo, f"whole {np.dtype(FUNCTIONS[name].arg_dtype).name} range", e))
            bar.update()
    methods = _methods()
    lines = [
        "# Nonlinear units: method and measured accuracy",
        "",
        "Generated by `python -m sim.nonlinear_report` (do not edit by hand). The C++ is",
        "`hw/include/onion/nonlinear.h` with ROM contents in `hw/include/onion/nonlinear_tables.h`",
        "(generated by `python -m hw.gen.nonlinear_tables`); the reference is float64 numpy/scipy.",
        "Integer only: no floats, no libm, no run-time division; loops have constant bounds.",
        "",
        "Errors are in output LSBs (2^-fo) against the exact value clipped to the output type (the C++",
        "saturates). Every result is the exact value rounded half up, so 0.5 LSB is the floor;",
        '"beyond rounding" is |err| - 0.5 LSB (relative: over |exact|; absolute: in real units), the',
        'error the algorithm itself adds; "mean err" is the signed mean (bias).',
        f"Relative errors are quoted where the exact result is at least {QUANT_FLOOR_LSB} LSBs",
        "(below that the output format's own quantisation, not the unit, dominates).",
        "",
        "## Methods, tables and tested bounds",
        "",
        "| function | method | ROM | bound asserted by tests/hw/test_nonlinear.py |",
        "|---|---|---|---|",
    ]
    for name, fn in FUNCTIONS.items():
        method, rom = methods[name]
        b = fn.bound
        bound = "0.5 LSB" + (f" + {b.rel:g} x exact" if b.rel else "") + (f" + {b.abs:g} (absolute)" if b.abs else "")
        lines.append(f"| {fn.cxx_name} | {method} | {rom} | {bound} |")
    lines += [
        "",
        "## The engine's uses",
        "",
        header,
        *typical,
        "",
        "## Whole argument range (random log-uniform magnitudes + edges)",
        "",
        header,
        *full,
        "",
        "Notes: at fo=16 the reciprocal of a softmax row sum of 197 is only 333 LSBs (quantisation",
        "1.5e-3 relative), so the engine should take that reciprocal with fo >= 20 (the result is a",
        "uint32) and requantize after the multiply. exp results below half an LSB round to 0",
        "(exp(-32) is 1.3e-14), as the attn_prob format requires anyway. The C++ uses 64-bit",
        "intermediates; Q30 Newton iterates and Q31 exp tables set the ~1e-8 floor seen above.",
        "",
    ]
    return "\n".join(lines), all_ok


def main() -> int:
    text, ok = build_report()
    DOC.parent.mkdir(parents=True, exist_ok=True)
    tmp = DOC.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(DOC)
    print(text)
    print(f"wrote {DOC}", file=sys.stderr)
    if not ok:
        print("some measurements exceed their bound", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
