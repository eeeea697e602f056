"""Cycle model of the RTL MAC-array core, for the host (numpy-free, torch-free).

The array's geometry and timing constants come from hw/spec/engine_spec.json ("mac_array", "clock_mhz"),
read here through host/engine_spec.py; the C++ twin (mac_array_timing.h) gets the same values from the
generated spec.h. This module implements the same formula as gemm_cycles_on() (tests/rtl checks both
against each other and against RTL simulation).

  gemm_cycles(M, N, K)              cycles of one GEMM C[M][N] = A[M][K] B[N][K]^T on the core
  layer_gemms / layer_cycles        the GEMMs of one ViT encoder layer, forward (+ backward)
  model_latency(...)                seconds per image of the MAC-array work of a whole model
  dsp_bound_seconds(macs)           the limit if every DSP48E2 did one MAC per cycle

Only MAC-array work is modelled: softmax, LayerNorm, GELU, bias gradients and data movement run
in other engine units and are not counted here.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from host import engine_spec


@functools.cache
def constants() -> dict[str, int]:
    """MAC_ROWS, MAC_COLS, MAC_MAX_M, MAC_CLOCK_MHZ, MAC_DSPS, MAC_SWAP_CYCLES, MAC_TAIL_CYCLES, under the
    names spec.h gives them, from the engine spec."""
    spec = engine_spec.load_spec()
    mac = spec["mac_array"]
    return {
        "MAC_ROWS": int(mac["rows"]),
        "MAC_COLS": int(mac["cols"]),
        "MAC_MAX_M": int(mac["max_m"]),
        "MAC_CLOCK_MHZ": int(spec["clock_mhz"]),
        "MAC_DSPS": int(mac["dsps"]),
        "MAC_SWAP_CYCLES": int(mac["swap_cycles"]),
        "MAC_TAIL_CYCLES": int(mac["tail_cycles"]),
    }


def gemm_job_cycles(rows: int, cols: int, m: int, n: int, k: int, bias: bool = False) -> int:
    """Cycles of one job (M <= the accumulator depth), start to last result, no stalls."""
    if m <= 0 or n <= 0 or k <= 0:
        return 0
    c = constants()
    n_tiles, k_tiles = -(-n // cols), -(-k // rows)
    plain = rows + c["MAC_SWAP_CYCLES"]  # B beats of a tile + the cycle before it starts
    with_bias = plain + int(bias)
    opening = n_tiles - 1  # tiles that open an n-tile (bias beat), after the first
    others = n_tiles * k_tiles - 1 - opening
    tail = rows + c["MAC_TAIL_CYCLES"]  # through the ROWS-deep DSP cascade and out
    return 1 + with_bias + m + tail + opening * max(m, with_bias) + others * max(m, plain)


def gemm_cycles(
    m: int,
    n: int,
    k: int,
    bias: bool = False,
    rows: int | None = None,
    cols: int | None = None,
    max_m: int | None = None,
) -> int:
    """Cycles of C[M][N] = A[M][K] B[N][K]^T; M is cut into jobs of at most max_m rows."""
    c = constants()
    rows, cols, max_m = rows or c["MAC_ROWS"], cols or c["MAC_COLS"], max_m or c["MAC_MAX_M"]
    if m <= 0:
        return 0
    full, rest = divmod(m, max_m)
    return full * gemm_job_cycles(rows, cols, max_m, n, k, bias) + gemm_job_cycles(rows, cols, rest, n, k, bias)


def utilisation(m: int, n: int, k: int, bias: bool = False, **geometry) -> float:
    """Useful MACs / (PEs x cycles)."""
    c = constants()
    pes = (geometry.get("rows") or c["MAC_ROWS"]) * (geometry.get("cols") or c["MAC_COLS"])
    cycles = gemm_cycles(m, n, k, bias, **geometry)
    return m * n * k / (pes * cycles) if cycles else 0.0


def dsp_bound_seconds(macs: int, dsps: int | None = None, clock_mhz: float | None = None) -> float:
    """MACs / (DSPs x clock): the time if every DSP48E2 of the device did one MAC per cycle."""
    c = constants()
    return macs / ((dsps or c["MAC_DSPS"]) * (clock_mhz or c["MAC_CLOCK_MHZ"]) * 1e6)


@dataclass(frozen=True)
class Gemm:
    name: str
    m: int
    n: int
    k: int
    bias: bool = False
    repeat: int = 1  # identical jobs (heads, queries)

    @property
    def macs(self) -> int:
        return self.repeat * self.m * self.n * self.k

    def cycles(self, **geometry) -> int:
        return self.repeat * gemm_cycles(self.m, self.n, self.k, self.bias, **geometry)


def _weight_grad(name: str, d_out: int, d_in: int, tokens: int) -> Gemm:
    """dW = dY^T X (reduction over tokens); the cheaper of the two orientations."""
    a = Gemm(name, d_out, d_in, tokens)
    b = Gemm(name, d_in, d_out, tokens)
    return a if gemm_cycles(a.m, a.n, a.k) <= gemm_cycles(b.m, b.n, b.k) else b


def _linear(name: str, tokens: int, d_in: int, d_out: int, training: bool) -> list[Gemm]:
    out = [Gemm(f"{name} XW^T+b", tokens, d_out, d_in, bias=True)]
    if training:
        out += [Gemm(f"{name} dX=dY W", tokens, d_in, d_out), _weight_grad(f"{name} dW=dY^T X", d_out, d_in, tokens)]
    return out


def _attention_dense(n: int, heads: int, dh: int, training: bool) -> list[Gemm]:
    out = [Gemm("QK^T", n, n, dh, repeat=heads), Gemm("PV", n, dh, n, repeat=heads)]
    if training:
        out += [
            Gemm("dP=dO V^T", n, n, dh, repeat=heads),
            Gemm("dV=P^T dO", n, dh, n, repeat=heads),
            Gemm("dQ=dS K", n, dh, n, repeat=heads),
            Gemm("dK=dS^T Q", n, dh, n, repeat=heads),
        ]
    return out


def _attention_gathered(n: int, keys: int, heads: int, dh: int, training: bool) -> list[Gemm]:
    """One job per query over its gathered key list (the dense [CLS] query included)."""
    q = (n - 1) * heads
    out = [
        Gemm("QK^T [CLS]", 1, n, dh, repeat=heads),
        Gemm("PV [CLS]", 1, dh, n, repeat=heads),
        Gemm("QK^T lists", 1, keys, dh, repeat=q),
        Gemm("PV lists", 1, dh, keys, repeat=q),
    ]
    if training:
        out += [
            Gemm("dP=dO V^T [CLS]", 1, n, dh, repeat=heads),
            Gemm("dV=P^T dO [CLS]", n, dh, 1, repeat=heads),
            Gemm("dQ=dS K [CLS]", 1, dh, n, repeat=heads),
            Gemm("dK=dS^T Q [CLS]", n, dh, 1, repeat=heads),
            Gemm("dP=dO V^T lists", 1, keys, dh, repeat=q),
            Gemm("dV=P^T dO lists", keys, dh, 1, repeat=q),
            Gemm("dQ=dS K lists", 1, dh, keys, repeat=q),
            Gemm("dK=dS^T Q lists", keys, dh, 1, repeat=q),
        ]
    return out


def _total(gemms: list[Gemm]) -> int:
    return sum(g.cycles() for g in gemms)


def _config(config: str | dict) -> dict:
    if isinstance(config, str):
        from host.model_configs import get_config

        return get_config(config)
    return dict(config)


def layer_gemms(
    config: str | dict,
    n_tokens: int,
    keys_per_query: int | None = None,
    training: bool = True,
    mlp_tokens: int | None = None,
) -> list[Gemm]:
    """The MAC-array GEMMs of one encoder layer.

    n_tokens: tokens the attention sees ([CLS] included); mlp_tokens: tokens the MLP sees (fewer
    in a pruning selector block; default n_tokens). keys_per_query: keys of each patch query's
    list ([CLS] key included), None = dense. A weight-stationary array gains nothing from
    per-query lists (each query is a one-row job), so the schedule with fewer cycles is used:
    gathered per-query jobs or the dense product over the kept tokens with the lists as a mask.
    """
    cfg = _config(config)
    d, heads = cfg["embed_dim"], cfg["num_heads"]
    dh, hidden = d // heads, int(d * cfg["mlp_ratio"])
    mlp_tokens = n_tokens if mlp_tokens is None else mlp_tokens
    if n_tokens <= 0 or mlp_tokens <= 0 or mlp_tokens > n_tokens:
        raise ValueError(f"n_tokens={n_tokens}, mlp_tokens={mlp_tokens}: need 0 < mlp_tokens <= n_tokens")
    if keys_per_query is not None and not 0 < keys_per_query <= n_tokens:
        raise ValueError(f"keys_per_query={keys_per_query} must be in 1..n_tokens={n_tokens}")
    attention = _attention_dense(n_tokens, heads, dh, training)
    if keys_per_query is not None and keys_per_query < n_tokens:
        gathered = _attention_gathered(n_tokens, keys_per_query, heads, dh, training)
        if _total(gathered) < _total(attention):
            attention = gathered
    return (
        _linear("qkv", n_tokens, d, 3 * d, training)
        + attention
        + _linear("proj", n_tokens, d, d, training)
        + _linear("fc1", mlp_tokens, d, hidden, training)
        + _linear("fc2", mlp_tokens, hidden, d, training)
    )


def layer_cycles(
    config: str | dict,
    n_tokens: int,
    keys_per_query: int | None = None,
    training: bool = True,
    mlp_tokens: int | None = None,
) -> int:
    """MAC-array cycles of one encoder layer's forward (+ backward) GEMMs."""
    return _total(layer_gemms(config, n_tokens, keys_per_query, training, mlp_tokens))


def model_gemms(
    config_name: str,
    token_keep: float = 1.0,
    attn_keep: float = 1.0,
    selector_blocks: Sequence[int] = (3, 6, 9),
    training: bool = True,
) -> list[Gemm]:
    """All MAC-array GEMMs of one image: patch embedding, the encoder layers (Tri-Level E-ViT
    block plan: a selector block attends densely, then keeps ceil(R_T N) patches before its MLP and
    gives later blocks ceil(R_A n) keys per query), and the classifier on [CLS]."""
    from host.model_configs import num_tokens
    from host.ta_selector import n_keep_keys, n_keep_tokens

    cfg = _config(config_name)
    d, depth = cfg["embed_dim"], cfg["depth"]
    patch_dim = cfg["in_chans"] * cfg["patch_size"] ** 2
    tokens = num_tokens(cfg)
    n_patch = tokens - 1
    gemms = [Gemm("patch_embed", n_patch, d, patch_dim, bias=True)]
    if training:  # the image needs no gradient: weight gradient only
        gemms.append(_weight_grad("patch_embed dW", d, patch_dim, n_patch))
    keys = None
    selectors = set(selector_blocks)
    for block in range(depth):
        if block not in selectors:
            gemms += [
                Gemm(f"L{block} {g.name}", g.m, g.n, g.k, g.bias, g.repeat)
                for g in layer_gemms(cfg, tokens, keys, training)
            ]
            continue
        kept = n_keep_tokens(tokens - 1, token_keep)
        gemms += [
            Gemm(f"L{block} {g.name}", g.m, g.n, g.k, g.bias, g.repeat)
            for g in layer_gemms(cfg, tokens, None, training, mlp_tokens=kept + 1)
        ]
        chosen = n_keep_keys(kept, attn_keep)
        tokens, keys = kept + 1, (chosen + 1 if chosen < kept else None)
    gemms.append(Gemm("head", 1, cfg["num_classes"], d, bias=True))
    if training:
        gemms += [Gemm("head dX", 1, d, cfg["num_classes"]), Gemm("head dW", cfg["num_classes"], d, 1)]
    return gemms


def model_latency(
    config_name: str,
    token_keep: float = 1.0,
    attn_keep: float = 1.0,
    selector_blocks: Sequence[int] = (3, 6, 9),
    clock_mhz: float | None = None,
    training: bool = True,
) -> float:
    """Seconds per image of MAC-array work at clock_mhz (default: the header's target clock)."""
    cycles = _total(model_gemms(config_name, token_keep, attn_keep, selector_blocks, training))
    return cycles / ((clock_mhz or constants()["MAC_CLOCK_MHZ"]) * 1e6)


def model_macs(
    config_name: str,
    token_keep: float = 1.0,
    attn_keep: float = 1.0,
    selector_blocks: Sequence[int] = (3, 6, 9),
    training: bool = True,
) -> int:
    return sum(g.macs for g in model_gemms(config_name, token_keep, attn_keep, selector_blocks, training))


def array_utilisation(gemms: list[Gemm]) -> float:
    c = constants()
    cycles = _total(gemms)
    return sum(g.macs for g in gemms) / (c["MAC_ROWS"] * c["MAC_COLS"] * cycles) if cycles else 0.0


__all__ = [
    "constants",
    "gemm_cycles",
    "gemm_job_cycles",
    "utilisation",
    "dsp_bound_seconds",
    "Gemm",
    "layer_gemms",
    "layer_cycles",
    "model_gemms",
    "model_latency",
    "model_macs",
    "array_utilisation",
]
