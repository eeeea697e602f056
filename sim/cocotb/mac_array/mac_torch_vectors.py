"""GEMM cases taken from a PyTorch ViT encoder layer: forward and autograd backward products.

The float operands come from torch (nn.Linear, softmax attention, autograd gradients), are
quantised to the declared formats with host.engine_spec.quantize, and each case carries the float
product (`ref`, float64) and the worst-case error bound of the fixed-point result against it:

  |C * 2^-f_out - ref| <= 2^-(f_out+1)                              output rounding (half up)
                         + scale * sum_k (|a_k| db + |b_k| da + da db)  operand quantisation
                         + dbias                                       bias quantisation

with da = 2^-(f_a+1) etc. and |a_k| the quantised operand's value (docs/rtl.md).
Pruned token sets and sparse key lists appear as gathered operand rows, as the engine streams them.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from host.engine_spec import format_frac, quantize
from host.model_configs import get_config, num_tokens


def _q(t: torch.Tensor, kind: str) -> tuple[np.ndarray, int]:
    frac = format_frac(kind)
    words, saturated = quantize(t.detach().cpu().numpy(), frac)
    if saturated:
        raise ValueError(f"{saturated} values do not fit the {kind!r} format (frac {frac})")
    return words, frac


def _bound(
    a: np.ndarray, fa: int, b: np.ndarray, fb: int, f_out: int, scale: float = 1.0, fbias: int | None = None
) -> np.ndarray:
    da, db = 2.0 ** -(fa + 1), 2.0 ** -(fb + 1)
    av = np.abs(a.astype(np.float64)) * 2.0**-fa
    bv = np.abs(b.astype(np.float64)) * 2.0**-fb
    k = a.shape[1]
    err = scale * (av.sum(1)[:, None] * db + bv.sum(1)[None, :] * da + k * da * db)
    err += 2.0 ** -(f_out + 1)
    if fbias is not None:
        err += 2.0 ** -(fbias + 1)
    return err


def _gemm_case(
    name: str,
    a_t: torch.Tensor,
    a_kind: str,
    b_t: torch.Tensor,
    b_kind: str,
    out_kind: str,
    ref_t: torch.Tensor,
    bias_t: torch.Tensor | None = None,
    scale_log2: int = 0,
    out_frac: int | None = None,
) -> dict:
    """C = A B^T (* 2^-scale_log2) (+ bias) with A [M][K], B [N][K] given as float tensors."""
    a, fa = _q(a_t, a_kind)
    b, fb = _q(b_t, b_kind)
    f_out = format_frac(out_kind) if out_frac is None else out_frac
    shift = fa + fb + scale_log2 - f_out
    case = {
        "name": name,
        "a": a,
        "b": b,
        "bias": None,
        "bias_lshift": 0,
        "shift": shift,
        "frac_out": f_out,
        "ref": ref_t.detach().double().cpu().numpy(),
        "stalls": None,
    }
    fbias = None
    if bias_t is not None:
        case["bias"], fbias = _q(bias_t, "weight")
        case["bias_lshift"] = fa + fb + scale_log2 - fbias
        if case["bias_lshift"] < 0:
            raise ValueError(f"{name}: bias format finer than the product")
    case["bound"] = _bound(a, fa, b, fb, f_out, 2.0**-scale_log2, fbias)
    return case


def _crop(case: dict, m: int | None = None, n: int | None = None) -> dict:
    """Keeps the first m rows / n columns of a product (the reduction K stays whole)."""
    m = min(m or case["a"].shape[0], case["a"].shape[0])
    n = min(n or case["b"].shape[0], case["b"].shape[0])
    out = dict(case)
    out["a"], out["b"] = case["a"][:m], case["b"][:n]
    out["ref"], out["bound"] = case["ref"][:m, :n], case["bound"][:m, :n]
    if case["bias"] is not None:
        out["bias"] = case["bias"][:n]
    if (m, n) != (case["a"].shape[0], case["b"].shape[0]):
        out["name"] = f"{case['name']}[:{m},:{n}]"
    return out


def layer_cases(
    config_name: str, seed: int = 0, token_keep: float = 0.5, key_keep: float = 0.5, sparse_queries: int = 2
) -> list[dict]:
    """The GEMMs of one encoder layer of `config_name` (uncropped)."""
    cfg = get_config(config_name)
    d, heads = cfg["embed_dim"], cfg["num_heads"]
    dh, hidden, n_tok = d // heads, int(d * cfg["mlp_ratio"]), num_tokens(cfg)
    scale_log2 = int(round(math.log2(math.sqrt(dh))))
    if 2**scale_log2 != math.sqrt(dh):
        raise ValueError(f"head dim {dh}: 1/sqrt(dh) is not a power of two")
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    tag = config_name
    x = torch.nn.functional.layer_norm(torch.randn(n_tok, d, generator=g, dtype=torch.float64), (d,))
    qkv = torch.nn.Linear(d, 3 * d, dtype=torch.float64)
    fc1 = torch.nn.Linear(d, hidden, dtype=torch.float64)
    cases = []

    # attention forward, head 0
    y = qkv(x)
    cases.append(_gemm_case(f"{tag}/qkv_fwd XW^T+b", x, "activation", qkv.weight, "weight", "activation", y, qkv.bias))
    q, k, v = (y[:, i * d : i * d + dh].detach().clone().requires_grad_(True) for i in range(3))
    s = q @ k.T / math.sqrt(dh)
    cases.append(
        _gemm_case(f"{tag}/qk_fwd QK^T", q, "activation", k, "activation", "attn_score", s, scale_log2=scale_log2)
    )
    p = torch.softmax(s, dim=-1).detach().requires_grad_(True)
    o = p @ v
    cases.append(_gemm_case(f"{tag}/av_fwd PV", p, "attn_prob", v.T, "activation", "activation", o))
    d_o = 0.05 * torch.randn(n_tok, dh, generator=g, dtype=torch.float64)
    o.backward(d_o)
    cases.append(_gemm_case(f"{tag}/av_dP dO V^T", d_o, "gradient", v, "activation", "gradient", p.grad))
    cases.append(_gemm_case(f"{tag}/av_dV P^T dO", p.T, "attn_prob", d_o.T, "gradient", "gradient", v.grad))

    # token pruning: [CLS] + the patches the [CLS] row attends to most (TA-Selector rule)
    n_keep = max(1, math.ceil(token_keep * (n_tok - 1)))
    keep = torch.cat([torch.zeros(1, dtype=torch.long), p[0, 1:].topk(n_keep).indices.sort().values + 1])
    xk = x[keep].detach().clone().requires_grad_(True)
    h = fc1(xk)
    cases.append(
        _gemm_case(f"{tag}/fc1_fwd_pruned XW^T+b", xk, "activation", fc1.weight, "weight", "activation", h, fc1.bias)
    )
    d_h = 0.05 * torch.randn(h.shape, generator=g, dtype=torch.float64)
    h.backward(d_h)
    cases.append(_gemm_case(f"{tag}/fc1_dX_pruned dY W", d_h, "gradient", fc1.weight.T, "weight", "gradient", xk.grad))
    cases.append(
        _gemm_case(f"{tag}/fc1_dW_pruned dY^T X", d_h.T, "gradient", xk.T, "activation", "gradient", fc1.weight.grad)
    )

    # sparse attention among the kept tokens: each query's key list, gathered rows
    s_kept = s.detach()[keep][:, keep]
    n_keys = max(1, math.ceil(key_keep * (len(keep) - 1)))
    for i in range(1, 1 + sparse_queries):
        keys = torch.cat([torch.zeros(1, dtype=torch.long), s_kept[i, 1:].topk(n_keys).indices.sort().values + 1])
        rows = keep[keys]
        qi = q.detach()[keep[i] : keep[i] + 1]
        si = qi @ k.detach()[rows].T / math.sqrt(dh)
        cases.append(
            _gemm_case(
                f"{tag}/qk_sparse_q{i} q K[list]^T",
                qi,
                "activation",
                k.detach()[rows],
                "activation",
                "attn_score",
                si,
                scale_log2=scale_log2,
            )
        )
        pi = torch.softmax(si, dim=-1)
        cases.append(
            _gemm_case(
                f"{tag}/av_sparse_q{i} p V[list]",
                pi,
                "attn_prob",
                v.detach()[rows].T,
                "activation",
                "activation",
                pi @ v.detach()[rows],
            )
        )
    return cases


def test_cases(rows: int, cols: int) -> list[dict]:
    """Cases small enough for a rows x cols array in the unit tests: the tiny layer whole (but for
    cropped wide products) and DeiT-Tiny products cropped to a few output rows/columns."""
    out = []
    for case in layer_cases("onion_tiny", seed=1):
        out.append(_crop(case, m=24 if case["a"].shape[1] > 64 else None, n=2 * cols + 3))
    for case in layer_cases("deit_tiny_patch16_224", seed=2, sparse_queries=1):
        long_k = case["a"].shape[1] > 200
        out.append(_crop(case, m=6 if long_k else 16, n=cols + 1))
    stalls = {"a": 0.15, "b": 0.15, "c": 0.25}
    for i, case in enumerate(out):
        if i % 2:
            case["stalls"] = dict(stalls, seed=100 + i)
    return out
