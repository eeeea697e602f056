"""Generates hw/include/onion/nonlinear_tables.h: the ROM contents of the engine's nonlinear units.

    python -m hw.gen.nonlinear_tables          # rewrite the header
    python -m hw.gen.nonlinear_tables --check  # exit 1 if the committed header is stale

The C++ in hw/include/onion/nonlinear.h reads every layout constant (table lengths, index widths,
coefficient fractional bits) from the generated header, so this script is their single source.
Tables are computed in float64 (numpy/scipy) and rounded to the nearest integer once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import numpy as np
from scipy.special import erf

from sim.toolchain import REPO

HEADER = REPO / "hw" / "include" / "onion" / "nonlinear_tables.h"

# exp: 2^-f = EXP2_HI[f_hi] * EXP2_LO[f_mid] * (1 - f_lo ln 2), f split 6 + 6 + 20 bits (Q32).
EXP2_HI_BITS = 6
EXP2_LO_BITS = 6
EXP2_FRAC = 31  # table entries in Q31, values in (0.5, 1]
# reciprocal: seed for 1/M, M in [0.5, 1), indexed by the 6 bits after the leading one.
RECIP_SEED_BITS = 6
RECIP_SEED_FRAC = 30  # seed values in (1, 2], Q30
# rsqrt: seed for M^-1/2, M in [0.25, 1), indexed by the top 7 bits of M (entries 32..127 used).
RSQRT_SEED_BITS = 7
RSQRT_SEED_FIRST = 1 << (RSQRT_SEED_BITS - 2)
RSQRT_SEED_FRAC = 30  # seed values in (1, 2], Q30
# GELU: piecewise quadratics on t = |x| in [0, 2^GELU_RANGE_LOG2), segments of 2^-GELU_SEG_BITS.
GELU_RANGE_LOG2 = 3
GELU_SEG_BITS = 4
GELU_SEGMENTS = 1 << (GELU_RANGE_LOG2 + GELU_SEG_BITS)
GELU_COEF_FRAC = 30  # c0 + c1 u + c2 u^2, u in [0, 1) across a segment


def _q(values: np.ndarray, frac: int) -> np.ndarray:
    return np.round(np.asarray(values, dtype=np.float64) * 2.0**frac).astype(np.int64)


def exp2_tables() -> tuple[np.ndarray, np.ndarray]:
    hi = 2.0 ** (-np.arange(1 << EXP2_HI_BITS) / 2.0**EXP2_HI_BITS)
    lo = 2.0 ** (-np.arange(1 << EXP2_LO_BITS) / 2.0 ** (EXP2_HI_BITS + EXP2_LO_BITS))
    return _q(hi, EXP2_FRAC), _q(lo, EXP2_FRAC)


def recip_seed() -> np.ndarray:
    # Interval [a, b) of M; 2 / (a + b) makes the relative error equal (and opposite) at both ends.
    n = 1 << RECIP_SEED_BITS
    a = 0.5 + np.arange(n) / (2.0 * n)
    b = a + 1.0 / (2.0 * n)
    return _q(2.0 / (a + b), RECIP_SEED_FRAC)


def rsqrt_seed() -> np.ndarray:
    n = 1 << RSQRT_SEED_BITS
    a = np.arange(RSQRT_SEED_FIRST, n) / n
    b = a + 1.0 / n
    return _q(2.0 / (np.sqrt(a) + np.sqrt(b)), RSQRT_SEED_FRAC)


def normal_cdf(t: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + erf(t / np.sqrt(2.0)))


def gelu_grad_pos(t: np.ndarray) -> np.ndarray:
    """d/dt [t Phi(t)] = Phi(t) + t phi(t); for x < 0 the engine uses 1 - this at |x|."""
    return normal_cdf(t) + t * np.exp(-0.5 * t * t) / np.sqrt(2.0 * np.pi)


def quadratic_segments(f: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Per segment, the quadratic through f at the three Chebyshev nodes (near-minimax); (S, 3).

    Newton divided differences (plain arithmetic, no LAPACK) keep the output identical everywhere.
    """
    h = 2.0**-GELU_SEG_BITS
    u0, u1, u2 = (1.0 - np.cos((2 * np.arange(3) + 1) * np.pi / 6.0)) / 2.0
    start = np.arange(GELU_SEGMENTS) * h
    y0, y1, y2 = f(start + u0 * h), f(start + u1 * h), f(start + u2 * h)
    d1 = (y1 - y0) / (u1 - u0)
    d2 = ((y2 - y1) / (u2 - u1) - d1) / (u2 - u0)
    coefs = np.stack([y0 - d1 * u0 + d2 * u0 * u1, d1 - d2 * (u0 + u1), d2], axis=1)
    return _q(coefs, GELU_COEF_FRAC)


def _array(ctype: str, name: str, values: np.ndarray, per_line: int = 8) -> str:
    flat = [int(v) for v in np.asarray(values).reshape(-1)]
    suffix = "u" if ctype.startswith("uint") else ""
    rows = [", ".join(f"{v}{suffix}" for v in flat[i : i + per_line]) for i in range(0, len(flat), per_line)]
    dims = "".join(f"[{d}]" for d in np.asarray(values).shape)
    body = ",\n    ".join(rows)
    return f"static const {ctype} {name}{dims} = {{\n    {body}\n}};\n"


def _coef_array(name: str, coefs: np.ndarray) -> str:
    rows = ",\n    ".join("{" + ", ".join(str(int(c)) for c in row) + "}" for row in coefs)
    return f"static const int32_t {name}[{coefs.shape[0]}][3] = {{\n    {rows}\n}};\n"


def render() -> str:
    hi, lo = exp2_tables()
    phi_coefs = quadratic_segments(normal_cdf)
    grad_coefs = quadratic_segments(gelu_grad_pos)
    for table in (phi_coefs, grad_coefs):
        assert np.abs(table).max() < 2**31, "GELU coefficient overflows int32"
    consts = {
        "EXP2_HI_BITS": EXP2_HI_BITS,
        "EXP2_LO_BITS": EXP2_LO_BITS,
        "EXP2_FRAC": EXP2_FRAC,
        "RECIP_SEED_BITS": RECIP_SEED_BITS,
        "RECIP_SEED_FRAC": RECIP_SEED_FRAC,
        "RSQRT_SEED_BITS": RSQRT_SEED_BITS,
        "RSQRT_SEED_FIRST": RSQRT_SEED_FIRST,
        "RSQRT_SEED_FRAC": RSQRT_SEED_FRAC,
        "GELU_RANGE_LOG2": GELU_RANGE_LOG2,
        "GELU_SEG_BITS": GELU_SEG_BITS,
        "GELU_SEGMENTS": GELU_SEGMENTS,
        "GELU_COEF_FRAC": GELU_COEF_FRAC,
    }
    parts = [
        "// GENERATED by `python -m hw.gen.nonlinear_tables`; do not edit by hand.\n"
        "// ROM contents and layout constants for onion/nonlinear.h.\n"
        "#ifndef ONION_NONLINEAR_TABLES_H\n#define ONION_NONLINEAR_TABLES_H\n\n"
        "#include <stdint.h>\n\nnamespace onion {\nnamespace nl_tables {\n\n",
        "".join(f"const int {k} = {v};\n" for k, v in consts.items()),
        "\n// 2^-(i / 2^EXP2_HI_BITS), Q31\n",
        _array("uint32_t", "EXP2_HI", hi),
        "// 2^-(i / 2^(EXP2_HI_BITS + EXP2_LO_BITS)), Q31\n",
        _array("uint32_t", "EXP2_LO", lo),
        "// 1/M seed per interval of M in [0.5, 1), Q30\n",
        _array("uint32_t", "RECIP_SEED", recip_seed()),
        "// M^-1/2 seed per interval of M in [RSQRT_SEED_FIRST, 2^RSQRT_SEED_BITS) / 2^RSQRT_SEED_BITS, Q30\n",
        _array("uint32_t", "RSQRT_SEED", rsqrt_seed()),
        "// Phi(t) = 0.5 (1 + erf(t / sqrt 2)) per segment: {c0, c1, c2}, Q30\n",
        _coef_array("GELU_CDF_COEF", phi_coefs),
        "// Phi(t) + t phi(t) (GELU derivative for t >= 0) per segment: {c0, c1, c2}, Q30\n",
        _coef_array("GELU_GRAD_COEF", grad_coefs),
        "\n}  // namespace nl_tables\n}  // namespace onion\n\n#endif\n",
    ]
    return "".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the header is up to date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = HEADER.read_text() if HEADER.exists() else ""
        if current != text:
            print(f"{HEADER} is stale: run python -m hw.gen.nonlinear_tables", file=sys.stderr)
            return 1
        print(f"{HEADER} is up to date")
        return 0
    tmp = HEADER.with_suffix(".h.tmp")
    tmp.write_text(text)
    tmp.replace(HEADER)
    print(f"wrote {HEADER}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
