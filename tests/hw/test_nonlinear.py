"""The engine's fixed-point nonlinear functions (hw/include/onion/nonlinear.h) against float64.

References are written out here with numpy/scipy; the bounds are the documented ones
(sim.nonlinear_report.ERROR_BOUNDS, also printed in docs/nonlinear.md).
"""

import re

import numpy as np
import pytest
from scipy.special import erf

from hw.gen import nonlinear_tables as gen_nonlinear_tables
from sim.nonlinear_report import ERROR_BOUNDS, FULL_RANGE_FORMATS, FUNCTIONS, full_range_args, run, typical_sweeps

UINT32_MAX = 2**32 - 1
NONLINEAR_H = gen_nonlinear_tables.HEADER.with_name("nonlinear.h")


def _cdf(v):
    return 0.5 * (1.0 + erf(v / np.sqrt(2.0)))


REFERENCE = {
    "exp": lambda v: np.exp(np.minimum(v, 0.0)),
    "reciprocal": lambda v: 1.0 / v,
    "rsqrt": lambda v: 1.0 / np.sqrt(v),
    "gelu": lambda v: v * _cdf(v),
    "gelu_grad": lambda v: _cdf(v) + v * np.exp(-0.5 * v * v) / np.sqrt(2.0 * np.pi),
}


def _exact_lsb(name, args, fx, fo):
    real = np.asarray(args, dtype=np.float64) * 2.0**-fx
    with np.errstate(divide="ignore", over="ignore"):
        exact = REFERENCE[name](real) * 2.0**fo
    return np.clip(exact, *FUNCTIONS[name].out_range)  # the C++ saturates to its output type


def _check(name, args, fx, fo):
    """Asserts the documented bound at every point; returns (|error| in LSB, exact in LSB)."""
    got = run(name, args, fx, fo).astype(np.float64)
    exact = _exact_lsb(name, args, fx, fo)
    err = np.abs(got - exact)
    bound = ERROR_BOUNDS[name]
    allowed = 0.5 + bound.rel * np.abs(exact) + bound.abs * 2.0**fo
    worst = int(np.argmax(err - allowed))
    assert err[worst] <= allowed[worst], (
        f"{name} fx={fx} fo={fo}: x={args[worst]} got {got[worst]:.0f} exact {exact[worst]:.3f} LSB "
        f"(error {err[worst]:.3f} > allowed {allowed[worst]:.3f})"
    )
    return err, exact


SWEEPS = typical_sweeps(np.random.default_rng(20231121))


@pytest.mark.parametrize("name,fx,fo,what,args", SWEEPS, ids=[f"{s[0]}-fx{s[1]}-fo{s[2]}" for s in SWEEPS])
def test_engine_uses_meet_accuracy_targets(name, fx, fo, what, args):
    err, exact = _check(name, args, fx, fo)
    if name in ("exp", "reciprocal", "rsqrt"):
        big = np.abs(exact) >= 2**10  # below that, the output format's own LSB dominates
        assert (err[big] / np.abs(exact[big])).max() < 1e-3
    else:
        assert err.max() <= 0.6  # GELU: within rounding plus a small fraction of an LSB


FULL = [(name, fx, fo) for name, pairs in FULL_RANGE_FORMATS.items() for fx, fo in pairs]


@pytest.mark.parametrize("name,fx,fo", FULL, ids=[f"{n}-fx{fx}-fo{fo}" for n, fx, fo in FULL])
def test_whole_argument_range_within_bound(name, fx, fo):
    rng = np.random.default_rng([fx, fo, *map(ord, name)])
    _check(name, full_range_args(name, rng, 20_000), fx, fo)


def test_special_values():
    assert list(run("exp", np.array([0, 1, 5000, 2**31 - 1]), 10, 16)) == [1 << 16] * 4  # x > 0 clamps
    assert list(run("exp", np.array([-(2**31), -40 * 1024]), 10, 16)) == [0, 0]
    assert list(run("exp", np.array([0]), 0, 30)) == [1 << 30]
    assert list(run("reciprocal", np.array([0]), 15, 16)) == [UINT32_MAX]
    assert list(run("rsqrt", np.array([0]), 16, 16)) == [UINT32_MAX]
    # exact powers of two come out exact
    assert list(run("reciprocal", np.array([1 << 15, 1 << 16, 1 << 14]), 15, 16)) == [1 << 16, 1 << 15, 1 << 17]
    assert list(run("rsqrt", np.array([1 << 20, 4 << 20, 1 << 18]), 20, 24)) == [1 << 24, 1 << 23, 1 << 25]
    assert list(run("gelu", np.array([0, 1 << 20, -(1 << 20)]), 8, 12)) == [0, 1 << 24, 0]
    assert list(run("gelu_grad", np.array([0, 1 << 20, -(1 << 20)]), 8, 12)) == [1 << 11, 1 << 12, 0]


def test_monotone_where_the_function_is():
    # softmax relies on exp never decreasing with the score and 1/x never increasing with the sum
    e = run("exp", np.arange(-32 * 1024, 1), 10, 16)
    assert (np.diff(e) >= 0).all()
    r = run("reciprocal", np.arange(1 << 15, 197 << 15, 7), 15, 24)
    assert (np.diff(r) <= 0).all()
    s = run("rsqrt", np.arange(1, 1 << 20), 16, 16)
    assert (np.diff(s) <= 0).all()
    g = run("gelu", np.arange(-192, 32768), 8, 12)  # GELU rises from its minimum near x = -0.75
    assert (np.diff(g) >= 0).all()


def test_driver_arguments_are_checked():
    with pytest.raises(ValueError, match="function"):
        run("tanh", np.array([1]), 8, 8)
    with pytest.raises(ValueError, match="args"):
        run("reciprocal", np.array([-1]), 8, 8)


def test_committed_tables_are_current():
    assert gen_nonlinear_tables.HEADER.read_text() == gen_nonlinear_tables.render(), (
        "hw/include/onion/nonlinear_tables.h is stale: run python -m hw.gen.nonlinear_tables"
    )


def test_header_is_integer_only():
    # synthesisable as is: no floating point, no libm, division only by constants
    code = re.sub(r"//[^\n]*|/\*.*?\*/|#include[^\n]*", "", NONLINEAR_H.read_text(), flags=re.S)
    assert not re.search(r"\b(float|double)\b|math\.h|<cmath>|hls_math", code)
    for divisor in re.findall(r"/\s*([^\s;)]+)", code):
        assert divisor.isdigit(), f"run-time division by {divisor}"
