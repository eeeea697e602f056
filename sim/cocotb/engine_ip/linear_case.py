"""The reference case for the exported engine RTL: one LINEAR_FWD op run through the C-sim
backend (the engine's C++ on the CPU). Saves the four memories before and after, the registers
and the counters, so the cocotb bench can replay the op on the RTL and compare bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from host import engine_spec
from host.backends.csim import CsimBackend

OP = "LINEAR_FWD"
PORTS = CsimBackend.PORTS


def build_case(path: Path, seed: int = 0, n_tokens: int = 5, in_dim: int = 16, out_dim: int = 8) -> Path:
    rng = np.random.default_rng(seed)
    backend = CsimBackend(words={"wts": 4096, "act": 4096, "grd": 64, "aux": 256})
    dims = {"I": in_dim, "O": out_dim}
    params = backend.alloc("wts", engine_spec.layout_size(engine_spec.op(OP)["params"], **dims))
    params.array[:] = rng.integers(-2048, 2048, params.array.size)  # weights within +-0.5
    x = backend.alloc("act", n_tokens * in_dim)
    x.array[:] = rng.integers(-1024, 1024, x.array.size)  # activations within +-4
    y = backend.alloc("act", n_tokens * out_dim)
    stats = backend.alloc("aux", 2 * len(engine_spec.op_tensors(OP)))
    registers = {
        "n_tokens": n_tokens,
        "in_dim": in_dim,
        "out_dim": out_dim,
        "x_off": x.offset,
        "y_off": y.offset,
        "w_off": params.offset,
        "stats_off": stats.offset,
    }
    before = {port: backend.mem[port].copy() for port in PORTS}
    status = backend.call(OP, **registers)
    counters = backend.read_counters()
    np.savez(
        path,
        opcode=engine_spec.opcode(OP),
        status=status,
        macs=counters["macs"],
        saturations=counters["saturations"],
        reg_names=np.array(list(registers)),
        reg_values=np.array(list(registers.values()), dtype=np.int64),
        **{f"before_{p}": before[p] for p in PORTS},
        **{f"after_{p}": backend.mem[p] for p in PORTS},
    )
    return path
