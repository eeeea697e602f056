"""What the host and hw tests read straight off an engine call's registers, independently of
host.backends.call_plan: the layout symbols of hw/spec/engine_spec.json's _doc, as the engine takes
them (engine.h: K is n_keep only with GATHER; Z is row_ptr[N] of a SPARSE attention's CSR lists)."""

from __future__ import annotations

import numpy as np


def call_layout_dims(
    op: str, regs: dict[str, int], aux: np.ndarray, flag_bits: dict[str, int]
) -> tuple[dict, bool, bool]:
    """(layout symbols N P K D H M I O Z, sparse, gather) of one call; flag_bits: the spec's "flags"."""
    n = regs.get("n_tokens", 0)
    flags = regs.get("flags", 0)
    attention = op.startswith("ATTN")
    sparse = bool(attention and flags & flag_bits["SPARSE"])
    gather = bool(flags & flag_bits["GATHER"])
    z = int(aux[regs["keys_off"] + n]) if sparse else n * n if attention else 0
    dims = dict(
        N=n,
        P=n - 1,
        K=regs.get("n_keep", 0) if gather else n,
        D=regs.get("dim", 0),
        H=regs.get("heads", 0),
        M=regs.get("mlp_dim", 0),
        I=regs.get("in_dim", 0),
        O=regs.get("out_dim", 0),
        Z=z,
    )
    return dims, sparse, gather
