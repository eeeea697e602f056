"""The ap_types headers shipped in hls4ml compile, and ap_fixed rounds/saturates as specified."""

import random
import subprocess
from pathlib import Path

from sim.cxx import compile_cxx


def _expected(a: int, b: int) -> int:
    # a, b carry 12 fractional bits; the product 24; the result 8 -> drop 16 bits,
    # AP_RND rounds half towards +inf, AP_SAT clamps to int16.
    prod = a * b
    q = (prod + (1 << 15)) >> 16
    return max(-32768, min(32767, q))


def test_ap_fixed_multiply_matches_python_integers():
    exe = compile_cxx([Path(__file__).resolve().parents[2] / "hw" / "tb" / "tb_fixed_smoke.cpp"], "fixed_smoke")
    rng = random.Random(1)
    pairs = [(rng.randint(-32768, 32767), rng.randint(-32768, 32767)) for _ in range(500)]
    pairs += [(-32768, -32768), (32767, 32767), (0, 5), (1, 1), (-1, 1)]
    text = "".join(f"{a} {b}\n" for a, b in pairs)
    out = subprocess.run([str(exe)], input=text, capture_output=True, text=True, check=True).stdout
    got = [int(v) for v in out.split()]
    assert got == [_expected(a, b) for a, b in pairs]
