"""Golden vectors for the engine from the PyTorch reference (autograd for every backward).

A case is a set of initial memory images (ports wts/act/grd/aux), a sequence of engine calls
(register dicts) and the regions to compare with float64 PyTorch results computed on the same
quantized inputs. Cases cover every op on its own and a whole encoder layer (timm Block) with
pruned tokens (MLP gather) and sparse attention, at onion_tiny and DeiT-Tiny size.

`python -m sim.golden` writes build/golden/<case>/ (binary memory images, calls, reference
tensors) and build/golden/index.json; hw/tb/tb_onion_engine.cpp runs them (see sim/csim.py).
Tests build the same cases in memory and run them through host.backends.csim.

Gradient exponents: the reference's gradient magnitudes choose each tensor's frac (what the
host's adaptive exponents converge to, host.engine_spec.next_grad_frac), one spare top bit.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from model.torchvision_compat import ensure_torchvision_importable  # noqa: E402

ensure_torchvision_importable()  # the CPU torchvision shim, before timm is imported
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from timm.models.vision_transformer import Block  # noqa: E402

from host import engine_spec as es  # noqa: E402
from host.model_configs import get_config, mlp_hidden, num_tokens, patch_dim  # noqa: E402
from host.ta_selector import n_keep_keys, n_keep_tokens  # noqa: E402

if TYPE_CHECKING:
    from host.backends.base import PortMemoryBackend

REPO = Path(__file__).resolve().parents[1]
GOLDEN_DIR = REPO / "build" / "golden"
PORTS = es.ports()
PORT_DTYPES = {p: es.port_dtype(p) for p in PORTS}

A = es.format_frac("activation")
W = es.format_frac("weight")
P = es.format_frac("attn_prob")


def pick_frac(max_abs: float) -> int:
    """Gradient frac putting the largest |value| just below 2^14 words (one spare bit): the one rule,
    host/engine_spec.grad_frac_for_peak."""
    return es.grad_frac_for_peak(max_abs)


def q(values: ArrayLike, frac: int) -> np.ndarray:
    return es.quantize(np.asarray(values, dtype=np.float64), frac)[0]


def dq(words: ArrayLike, frac: int) -> np.ndarray:
    return np.asarray(words, dtype=np.float64) * 2.0**-frac


@dataclass
class Compare:
    """A region the engine writes, with the float reference it should approximate."""

    name: str
    port: str
    offset: int
    frac: int
    ref: np.ndarray
    direction: str  # 'fwd' or 'bwd'

    def header(self) -> dict:
        """Everything but the reference values (index.json's entry; load_compares reads it back)."""
        return dict(
            name=self.name,
            port=self.port,
            offset=self.offset,
            frac=self.frac,
            shape=list(self.ref.shape),
            direction=self.direction,
        )


@dataclass
class Case:
    name: str
    words: dict[str, list[tuple[int, np.ndarray]]] = field(default_factory=lambda: {p: [] for p in PORTS})
    sizes: dict[str, int] = field(default_factory=lambda: {p: 0 for p in PORTS})
    calls: list[dict] = field(default_factory=list)  # register dicts, 'op' the op name
    compares: list[Compare] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def put(self, port: str, words: ArrayLike) -> int:
        """Places words in a port's image; returns the word offset."""
        arr = np.ascontiguousarray(np.asarray(words).reshape(-1).astype(PORT_DTYPES[port]))
        off = self.sizes[port]
        self.words[port].append((off, arr))
        self.sizes[port] += arr.size
        return off

    def reserve(self, port: str, n: int) -> int:
        return self.put(port, np.zeros(int(n), dtype=PORT_DTYPES[port]))

    def image(self, port: str) -> np.ndarray:
        img = np.zeros(max(self.sizes[port], 1), dtype=PORT_DTYPES[port])
        for off, arr in self.words[port]:
            img[off : off + arr.size] = arr
        return img

    def compare(self, name: str, port: str, offset: int, frac: int, ref: ArrayLike, direction: str) -> None:
        ref = np.asarray(ref, dtype=np.float64)
        self.compares.append(Compare(name, port, int(offset), int(frac), ref, direction))

    def stats_region(self, op: str) -> int:
        return self.reserve("aux", 2 * len(es.op_tensors(op)))


def _t(words: ArrayLike, frac: int) -> torch.Tensor:
    return torch.tensor(dq(words, frac), dtype=torch.float64)


def _params_from_layout(
    case: Case, layout_name: str, dims: dict[str, int], tensors: dict[str, torch.Tensor]
) -> tuple[int, dict[str, np.ndarray]]:
    """Quantizes parameters (weight format) into a wts block in layout order; returns (offset, words)."""
    entries = es.layout(layout_name, **dims)
    block = np.zeros(es.layout_size(layout_name, **dims), dtype=np.int16)
    words = {}
    for name, (off, shape) in entries.items():
        w = q(tensors[name].detach().numpy().reshape(shape), W)
        block[off : off + w.size] = w.reshape(-1)
        words[name] = w
    return case.put("wts", block), words


def _grad_compares(
    case: Case,
    layout_name: str,
    dims: dict[str, int],
    gw_off: int,
    grads: dict[str, np.ndarray],
    fracs: dict[str, int],
    prefix: str,
) -> None:
    for name, (off, shape) in es.layout(layout_name, **dims).items():
        case.compare(f"{prefix}d_{name}", "grd", gw_off + off, fracs[name], grads[name].reshape(shape), "bwd")


# ---------------------------------------------------------------- per-op cases


def _backward_from(y: torch.Tensor, dy_f: np.ndarray) -> tuple[np.ndarray, int]:
    """Quantizes an upstream gradient at the frac its peak picks and back-propagates it through y."""
    g_out = pick_frac(np.abs(dy_f).max())
    dy = q(dy_f, g_out)
    y.backward(_t(dy, g_out))
    return dy, g_out


def _op_case(
    name: str,
    op: str,
    x: np.ndarray,
    dy_f: np.ndarray,
    forward: Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor],
    regs: dict[str, int],
    params: tuple[str, dict[str, int], dict[str, torch.Tensor]] | None = None,
    *,
    y_name: str = "y",
    input_grad: bool = True,
    save_layout: str | None = None,
    scratch_layout: str | None = None,
    extra_fracs: Callable[[np.ndarray, int, dict[str, np.ndarray]], dict[str, int]] | None = None,
) -> Case:
    """One op on its own: {op}_FWD then {op}_BWD with the same registers, against float64 autograd of
    forward(x, params) on the quantized x and parameters (weight format). params is (layout name, layout
    dims, float tensors by layout entry); input_grad: the op returns dx; save_layout / scratch_layout:
    the op's forward-save and backward-scratch regions; extra_fracs(dy, g_out, param words): fracs of
    internal gradients the op also needs."""
    case = Case(name)
    regs = dict(regs)
    w: dict[str, np.ndarray] = {}
    if params is not None:
        layout_name, layout_dims, tensors = params
        regs["w_off"], w = _params_from_layout(case, layout_name, layout_dims, tensors)
    pt = {k: _t(v, W).requires_grad_() for k, v in w.items()}
    xt = _t(x, A).requires_grad_(input_grad)
    y = forward(xt, pt)
    dy, g_out = _backward_from(y, dy_f)
    fr = {"d_out": g_out}
    if input_grad:
        fr["d_in"] = pick_frac(xt.grad.abs().max())
    if extra_fracs is not None:
        fr.update(extra_fracs(dy, g_out, w))
    fr.update({f"d_{k}": pick_frac(v.grad.abs().max()) for k, v in pt.items()})
    regs["x_off"] = case.put("act", x)
    fwd = dict(y_off=case.reserve("act", y.numel()))
    if save_layout is not None:
        regs["save_off"] = case.reserve("act", es.layout_size(save_layout, **layout_dims))
    bwd = dict(gy_off=case.put("grd", dy))
    if input_grad:
        bwd["gx_off"] = case.reserve("grd", x.size)
    if params is not None:
        bwd["gw_off"] = case.reserve("grd", es.layout_size(layout_name, **layout_dims))
    if scratch_layout is not None:
        bwd["gs_off"] = case.reserve("grd", es.layout_size(scratch_layout, **layout_dims))
    bwd["fracs_off"] = case.put("aux", [fr[t] for t in es.op_tensors(f"{op}_BWD")])
    for call_op, own in ((f"{op}_FWD", fwd), (f"{op}_BWD", bwd)):
        case.calls.append(dict(op=call_op, **own, stats_off=case.stats_region(call_op), **regs))
    case.compare(y_name, "act", fwd["y_off"], A, y.detach().numpy(), "fwd")
    if input_grad:
        case.compare("dx", "grd", bwd["gx_off"], fr["d_in"], xt.grad.numpy(), "bwd")
    if params is not None:
        grads = {k: v.grad.numpy() for k, v in pt.items()}
        _grad_compares(case, layout_name, layout_dims, bwd["gw_off"], grads, {k: fr[f"d_{k}"] for k in pt}, "")
    return case


def linear_case(n: int = 17, i: int = 48, o: int = 40, seed: int = 0) -> Case:
    rng = np.random.default_rng(seed)
    x = q(rng.normal(0, 1, (n, i)), A)
    tensors = {"w": torch.tensor(rng.normal(0, 1 / math.sqrt(i), (o, i))), "b": torch.tensor(rng.normal(0, 0.1, o))}
    dy_f = rng.normal(0, 1e-3, (n, o))
    return _op_case(
        f"linear_{n}x{i}x{o}",
        "LINEAR",
        x,
        dy_f,
        lambda xt, p: xt @ p["w"].T + p["b"],
        dict(n_tokens=n, in_dim=i, out_dim=o),
        ("linear_params", dict(I=i, O=o), tensors),
    )


def layernorm_case(n: int = 13, d: int = 64, seed: int = 1) -> Case:
    rng = np.random.default_rng(seed)
    x = q(rng.normal(0.3, 1.5, (n, d)), A)
    tensors = {"w": torch.tensor(rng.normal(1, 0.2, d)), "b": torch.tensor(rng.normal(0, 0.2, d))}
    # an upstream gradient with a mean and a part along x: every term of the LN backward matters
    xn = (dq(x, A) - dq(x, A).mean(1, keepdims=True)) / dq(x, A).std(1, keepdims=True)
    dy_f = 1e-2 * (rng.normal(0, 1, (n, d)) + 0.5 + 0.5 * xn)
    return _op_case(
        f"layernorm_{n}x{d}",
        "LAYERNORM",
        x,
        dy_f,
        lambda xt, p: F.layer_norm(xt, (d,), p["w"], p["b"], eps=1e-6),
        dict(n_tokens=n, dim=d),
        ("ln_params", dict(D=d), tensors),
    )


def gelu_case(n: int = 16, d: int = 96, seed: int = 2) -> Case:
    rng = np.random.default_rng(seed)
    x = q(rng.normal(0, 2.5, (n, d)), A)
    dy_f = rng.normal(0, 1e-3, (n, d))
    return _op_case(f"gelu_{n}x{d}", "GELU", x, dy_f, lambda xt, p: F.gelu(xt), dict(n_tokens=n, dim=d))


def patch_case(cfg_name: str = "onion_tiny", seed: int = 3) -> Case:
    cfg = get_config(cfg_name)
    rng = np.random.default_rng(seed)
    n, d = num_tokens(cfg), cfg["embed_dim"]
    i = patch_dim(cfg)
    patches = q(rng.normal(0, 1, (n - 1, i)), A)
    tensors = {
        "w": torch.tensor(rng.normal(0, 1 / math.sqrt(i), (d, i))),
        "b": torch.tensor(rng.normal(0, 0.1, d)),
        "cls": torch.tensor(rng.normal(0, 0.02, d)),
        "pos": torch.tensor(rng.normal(0, 0.02, (n, d))),
    }
    dy_f = rng.normal(0, 1e-3, (n, d))

    def forward(xt: torch.Tensor, p: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([p["cls"][None], xt @ p["w"].T + p["b"]]) + p["pos"]

    return _op_case(
        f"patch_embed_{cfg_name}",
        "PATCH_EMBED",
        patches,
        dy_f,
        forward,
        dict(n_tokens=n, dim=d, in_dim=i),
        ("patch_params", dict(N=n, D=d, I=i), tensors),
        input_grad=False,
    )


def head_case(cfg_name: str = "onion_tiny", seed: int = 4) -> Case:
    cfg = get_config(cfg_name)
    rng = np.random.default_rng(seed)
    n, d, c = num_tokens(cfg), cfg["embed_dim"], cfg["num_classes"]
    x = q(rng.normal(0, 1.5, (n, d)), A)
    tensors = {
        "ln_w": torch.tensor(rng.normal(1, 0.1, d)),
        "ln_b": torch.tensor(rng.normal(0, 0.1, d)),
        "w": torch.tensor(rng.normal(0, 1 / math.sqrt(d), (c, d))),
        "b": torch.tensor(rng.normal(0, 0.1, c)),
    }
    dy_f = rng.normal(0, 1e-2, c)

    def forward(xt: torch.Tensor, p: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.layer_norm(xt[0], (d,), p["ln_w"], p["ln_b"], eps=1e-6) @ p["w"].T + p["b"]

    def ln_out_frac(dy: np.ndarray, g_out: int, w: dict[str, np.ndarray]) -> dict[str, int]:
        return {"d_ln": pick_frac(np.abs(dq(dy, g_out) @ dq(w["w"], W)).max())}

    return _op_case(
        f"head_{cfg_name}",
        "HEAD",
        x,
        dy_f,
        forward,
        dict(n_tokens=n, dim=d, out_dim=c),
        ("head_params", dict(D=d, O=c), tensors),
        y_name="logits",
        save_layout="head_save",
        scratch_layout="head_scratch",
        extra_fracs=ln_out_frac,
    )


# ---------------------------------------------------------------- a whole encoder layer


def key_lists(n: int, r_a: float | None, rng: np.random.Generator) -> list[np.ndarray]:
    """Per-query key lists: dense when r_a is None; else [CLS] row dense and ceil(r_a (n-1)) random
    keys plus [CLS] for every other query (the shape TA-selection produces: host.ta_selector's count)."""
    if r_a is None:
        return [np.arange(n) for _ in range(n)]
    k = n_keep_keys(n - 1, r_a)
    lists = [np.arange(n)]
    for _ in range(1, n):
        lists.append(np.concatenate([[0], np.sort(rng.choice(np.arange(1, n), size=k, replace=False))]))
    return lists


def csr(lists: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    row_ptr = np.concatenate([[0], np.cumsum([len(x) for x in lists])]).astype(np.int32)
    return row_ptr, np.concatenate(lists).astype(np.int32)


def keep_list(n: int, keep_ratio: float | None, rng: np.random.Generator) -> np.ndarray:
    if keep_ratio is None:
        return np.arange(n)
    k = n_keep_tokens(n - 1, keep_ratio)
    return np.concatenate([[0], np.sort(rng.choice(np.arange(1, n), size=k, replace=False))]).astype(np.int32)


def _block_reference(
    blk: Block, x: torch.Tensor, lists: list[np.ndarray], keep: np.ndarray, dz: torch.Tensor, heads: int
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Forward + autograd backward of one block with masked attention and a token gather, keeping
    every intermediate's value and gradient. Cross-checked against timm's own Block.forward."""
    n, d = x.shape
    hd = d // heads
    mask = torch.zeros(n, n, dtype=torch.bool)
    for i, keys in enumerate(lists):
        mask[i, torch.as_tensor(keys)] = True
    t = {}

    def keep_grad(name: str, v: torch.Tensor) -> torch.Tensor:
        v.retain_grad()
        t[name] = v
        return v

    x = keep_grad("x", x.clone().requires_grad_())
    ln1 = keep_grad("ln1", blk.norm1(x))
    qkv = keep_grad("qkv", blk.attn.qkv(ln1))
    qh, kh, vh = qkv.reshape(n, 3, heads, hd).permute(1, 2, 0, 3)
    scores = keep_grad("scores", (qh @ kh.transpose(-1, -2)) * hd**-0.5)
    probs = keep_grad("probs", scores.masked_fill(~mask, float("-inf")).softmax(-1))
    ctx = keep_grad("ctx", (probs @ vh).transpose(0, 1).reshape(n, d))
    x1 = keep_grad("x1", x + blk.attn.proj(ctx))
    xg = x1[torch.as_tensor(keep)]
    ln2 = keep_grad("ln2", blk.norm2(xg))
    u = keep_grad("fc1", blk.mlp.fc1(ln2))
    g = keep_grad("gelu", blk.mlp.act(u))
    z = keep_grad("z", xg + blk.mlp.fc2(g))
    with torch.no_grad():  # independent check of the hand-written masked attention against timm
        ref1 = x + blk.drop_path1(blk.ls1(blk.attn(blk.norm1(x)[None], attn_mask=mask[None, None])[0]))
        ref = ref1[torch.as_tensor(keep)] + blk.drop_path2(blk.ls2(blk.mlp(blk.norm2(ref1[torch.as_tensor(keep)]))))
        assert torch.allclose(ref, z, atol=1e-9), "masked attention reference disagrees with timm Block"
    (z * dz).sum().backward()
    return t, mask


def block_case(
    cfg_name: str = "onion_tiny",
    keep_ratio: float | None = 0.7,
    r_a: float | None = 0.3,
    sparse: bool = True,
    seed: int = 5,
    name: str | None = None,
    n_tokens: int | None = None,
) -> Case:
    """One encoder block: ATTN_FWD, MLP_FWD (gathering ceil(keep_ratio (N-1)) + 1 tokens unless
    keep_ratio is None), MLP_BWD, ATTN_BWD; sparse: per-query key lists of ceil(r_a (N-1)) + 1 keys.
    n_tokens overrides the config's token count (a block after earlier pruning)."""
    cfg = get_config(cfg_name)
    n, d, h = n_tokens or num_tokens(cfg), cfg["embed_dim"], cfg["num_heads"]
    m = mlp_hidden(cfg)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    case = Case(name or f"block_{cfg_name}_n{n}_keep{keep_ratio}_ra{r_a if sparse else 'dense'}")
    blk = Block(d, h, mlp_ratio=cfg["mlp_ratio"], qkv_bias=True).double().eval()
    with torch.no_grad():  # trained-looking LayerNorm affine params instead of exact 1/0
        for ln in (blk.norm1, blk.norm2):
            ln.weight.copy_(torch.tensor(rng.normal(1, 0.1, d)))
            ln.bias.copy_(torch.tensor(rng.normal(0, 0.05, d)))
    attn_t = {
        "ln_w": blk.norm1.weight,
        "ln_b": blk.norm1.bias,
        "qkv_w": blk.attn.qkv.weight,
        "qkv_b": blk.attn.qkv.bias,
        "proj_w": blk.attn.proj.weight,
        "proj_b": blk.attn.proj.bias,
    }
    mlp_t = {
        "ln_w": blk.norm2.weight,
        "ln_b": blk.norm2.bias,
        "fc1_w": blk.mlp.fc1.weight,
        "fc1_b": blk.mlp.fc1.bias,
        "fc2_w": blk.mlp.fc2.weight,
        "fc2_b": blk.mlp.fc2.bias,
    }
    lists = key_lists(n, r_a if sparse else None, rng)
    row_ptr, keys = csr(lists)
    z_len = int(row_ptr[-1])
    keep = keep_list(n, keep_ratio, rng)
    k = len(keep)
    dims = dict(N=n, K=k, D=d, H=h, M=m, Z=z_len)
    wa_off, wa = _params_from_layout(case, "attn_params", dims, attn_t)
    wm_off, wm = _params_from_layout(case, "mlp_params", dims, mlp_t)
    with torch.no_grad():  # the reference runs on exactly the quantized parameters
        for name_, p in attn_t.items():
            p.copy_(torch.tensor(dq(wa[name_], W)).reshape(p.shape))
        for name_, p in mlp_t.items():
            p.copy_(torch.tensor(dq(wm[name_], W)).reshape(p.shape))
    x = q(rng.normal(0, 1, (n, d)), A)
    dz_f = rng.normal(0, 1e-3, (k, d)) + rng.normal(0, 1e-3, d)  # per-channel structure, as real gradients have
    g_z = pick_frac(np.abs(dz_f).max())
    dz = q(dz_f, g_z)
    t, mask = _block_reference(blk, _t(x, A), lists, keep, _t(dz, g_z), h)
    mnp = mask.numpy()

    def gmax(name: str, where: np.ndarray | None = None) -> float:
        g = t[name].grad.numpy()
        return float(np.abs(g[where] if where is not None else g).max())

    fr_mlp = {
        "d_out": g_z,
        "d_in": pick_frac(gmax("x1")),
        "d_gelu": pick_frac(gmax("gelu")),
        "d_fc1": pick_frac(gmax("fc1")),
        "d_ln": pick_frac(gmax("ln2")),
    }
    fr_attn = {
        "d_out": fr_mlp["d_in"],
        "d_in": pick_frac(gmax("x")),
        "d_ctx": pick_frac(gmax("ctx")),
        "d_probs": pick_frac(float(np.abs(t["probs"].grad.numpy()[:, mnp]).max())),
        "d_scores": pick_frac(float(np.abs(t["scores"].grad.numpy()[:, mnp]).max())),
        "d_qkv": pick_frac(gmax("qkv")),
        "d_ln": pick_frac(gmax("ln1")),
    }
    mlp_pg = {nm: p.grad.numpy() for nm, p in mlp_t.items()}
    attn_pg = {nm: p.grad.numpy() for nm, p in attn_t.items()}
    fr_mlp.update({f"d_{nm}": pick_frac(np.abs(g).max()) for nm, g in mlp_pg.items()})
    fr_attn.update({f"d_{nm}": pick_frac(np.abs(g).max()) for nm, g in attn_pg.items()})
    # memory
    x_off = case.put("act", x)
    x1_off = case.reserve("act", n * d)
    z_off = case.reserve("act", k * d)
    attn_off = case.reserve("act", z_len)
    sa_off = case.reserve("act", es.layout_size("attn_save", **dims))
    sm_off = case.reserve("act", es.layout_size("mlp_save", **dims))
    keys_off = case.put("aux", np.concatenate([row_ptr, keys])) if sparse else 0
    keep_off = case.put("aux", keep)
    dz_off = case.put("grd", dz)
    dx1_off = case.reserve("grd", n * d)
    dx_off = case.reserve("grd", n * d)
    gwa_off = case.reserve("grd", es.layout_size("attn_params", **dims))
    gwm_off = case.reserve("grd", es.layout_size("mlp_params", **dims))
    gs_off = case.reserve("grd", max(es.layout_size("attn_scratch", **dims), es.layout_size("mlp_scratch", **dims)))
    fa_off = case.put("aux", [fr_attn[tn] for tn in es.op_tensors("ATTN_BWD")])
    fm_off = case.put("aux", [fr_mlp[tn] for tn in es.op_tensors("MLP_BWD")])
    layer = dict(n_tokens=n, dim=d)  # both ops see the layer's full token count and width
    attn_flags = es.flag("SPARSE") if sparse else 0
    mlp_flags = es.flag("GATHER") if keep_ratio is not None else 0
    attn_regs = dict(layer, flags=attn_flags, heads=h, x_off=x_off, w_off=wa_off, save_off=sa_off, keys_off=keys_off)
    mlp_regs = dict(layer, flags=mlp_flags, n_keep=k, mlp_dim=m, w_off=wm_off, save_off=sm_off, keep_off=keep_off)
    case.calls += [
        dict(op="ATTN_FWD", y_off=x1_off, attn_off=attn_off, stats_off=case.stats_region("ATTN_FWD"), **attn_regs),
        dict(op="MLP_FWD", x_off=x1_off, y_off=z_off, stats_off=case.stats_region("MLP_FWD"), **mlp_regs),
        *(
            dict(
                op=op,
                gy_off=gy,
                gx_off=gx,
                gw_off=gw,
                gs_off=gs_off,
                fracs_off=fracs,
                stats_off=case.stats_region(op),
                **regs,
            )
            for op, gy, gx, gw, fracs, regs in (
                ("MLP_BWD", dz_off, dx1_off, gwm_off, fm_off, mlp_regs),
                ("ATTN_BWD", dx1_off, dx_off, gwa_off, fa_off, attn_regs),
            )
        ),
    ]
    probs = t["probs"].detach().numpy()
    rows = np.repeat(np.arange(n), np.diff(row_ptr))
    case.compare("attn.out", "act", x1_off, A, t["x1"].detach().numpy(), "fwd")
    case.compare(
        "attn.probs", "act", sa_off + es.layout("attn_save", **dims)["probs"][0], P, probs[:, rows, keys], "fwd"
    )
    case.compare("attn.attn_avg", "act", attn_off, P, probs.mean(0)[rows, keys], "fwd")
    case.compare("mlp.out", "act", z_off, A, t["z"].detach().numpy(), "fwd")
    case.compare("mlp.dx", "grd", dx1_off, fr_mlp["d_in"], t["x1"].grad.numpy(), "bwd")
    case.compare("attn.dx", "grd", dx_off, fr_attn["d_in"], t["x"].grad.numpy(), "bwd")
    _grad_compares(case, "mlp_params", dims, gwm_off, mlp_pg, {nm: fr_mlp[f"d_{nm}"] for nm in mlp_pg}, "mlp.")
    _grad_compares(case, "attn_params", dims, gwa_off, attn_pg, {nm: fr_attn[f"d_{nm}"] for nm in attn_pg}, "attn.")
    case.meta = dict(
        config=cfg_name,
        n_tokens=n,
        n_keep=k,
        dim=d,
        heads=h,
        mlp=m,
        key_entries=z_len,
        sparse=sparse,
        keep_ratio=keep_ratio,
        r_a=r_a if sparse else None,
    )
    return case


def default_cases(deit: bool = True) -> list[Case]:
    cases = [
        linear_case(),
        layernorm_case(),
        gelu_case(),
        patch_case(),
        head_case(),
        block_case("onion_tiny", keep_ratio=None, r_a=None, sparse=False, name="block_onion_tiny_dense"),
        block_case("onion_tiny", keep_ratio=0.7, r_a=0.3, sparse=True, name="block_onion_tiny_pruned_sparse"),
    ]
    if deit:
        cases.append(
            block_case(
                "deit_tiny_patch16_224", keep_ratio=0.7, r_a=0.3, sparse=True, name="block_deit_tiny_pruned_sparse"
            )
        )
        cases.append(
            block_case(
                "deit_small_patch16_224", keep_ratio=0.8, r_a=0.3, sparse=True, name="block_deit_small_pruned_sparse"
            )
        )
    return cases


# ---------------------------------------------------------------- running and scoring


def register_image(call: dict) -> np.ndarray:
    regs = es.registers()
    img = np.zeros(max(r["offset"] for r in regs) // 4 + 2, dtype=np.uint32)
    img[es.register("opcode")["offset"] // 4] = es.opcode(call["op"])
    for name, value in call.items():
        if name != "op":
            img[es.register(name)["offset"] // 4] = int(value)
    return img


def run_case_csim(case: Case, backend: PortMemoryBackend | None = None) -> tuple[dict[str, np.ndarray], list[dict]]:
    """Runs a case through host.backends.csim; returns (memories after, counters per call)."""
    from host.backends.csim import CsimBackend

    eng = backend or CsimBackend(words={p: max(case.sizes[p], 1) for p in PORTS})
    for p in PORTS:
        eng.reset(p)
        region = eng.alloc(p, max(case.sizes[p], 1))
        region.array[:] = case.image(p)
    counters = []
    for call in case.calls:
        regs = {k: v for k, v in call.items() if k != "op"}
        status = eng.call(call["op"], **regs)
        counters.append(dict(op=call["op"], **eng.read_counters()))
        if status != 0:
            raise RuntimeError(f"{case.name}: {call['op']} returned {es.status_name(status)}")
    mems = {p: eng.mem[p][: max(case.sizes[p], 1)].copy() for p in PORTS}
    return mems, counters


def score(case: Case, mems: dict) -> list[dict]:
    """Per compared region: max abs error, relative L2 error, cosine similarity vs the float reference."""
    rows = []
    for c in case.compares:
        got = dq(mems[c.port][c.offset : c.offset + c.ref.size], c.frac).reshape(c.ref.shape)
        err = got - c.ref
        ref_norm = float(np.linalg.norm(c.ref))
        rel = float(np.linalg.norm(err) / ref_norm) if ref_norm > 0 else float(np.linalg.norm(err))
        denom = float(np.linalg.norm(got) * ref_norm)
        cos = float(np.dot(got.reshape(-1), c.ref.reshape(-1)) / denom) if denom > 0 else 1.0
        rows.append(
            dict(
                case=case.name,
                tensor=c.name,
                direction=c.direction,
                frac=c.frac,
                max_abs_err=float(np.abs(err).max()),
                ref_max=float(np.abs(c.ref).max()),
                rel_l2=rel,
                cosine=cos,
                lsb=2.0**-c.frac,
            )
        )
    return rows


def write_case(case: Case, root: Path = GOLDEN_DIR) -> dict:
    d = root / case.name
    d.mkdir(parents=True, exist_ok=True)
    for p in PORTS:
        case.image(p).tofile(d / f"{p}.bin")
    calls = np.stack([register_image(c) for c in case.calls])
    calls.tofile(d / "calls.bin")
    refs = []
    for i, c in enumerate(case.compares):
        c.ref.astype(np.float64).tofile(d / f"ref_{i}.bin")
        refs.append(dict(c.header(), file=f"ref_{i}.bin"))
    (d / "sizes.txt").write_text(
        " ".join(str(max(case.sizes[p], 1)) for p in PORTS) + f" {len(case.calls)} {calls.shape[1]}\n"
    )
    return dict(
        name=case.name,
        dir=case.name,
        ports=list(PORTS),
        sizes={p: max(case.sizes[p], 1) for p in PORTS},
        calls=[c["op"] for c in case.calls],
        regs_per_call=int(calls.shape[1]),
        compares=refs,
        meta=case.meta,
    )


def load_compares(entry: dict, root: Path = GOLDEN_DIR) -> Case:
    """Rebuilds a Case (compares only) from index.json entry + files."""
    case = Case(entry["name"], meta=entry.get("meta", {}))
    for r in entry["compares"]:
        ref = np.fromfile(root / entry["dir"] / r["file"], dtype=np.float64).reshape(r["shape"])
        case.compare(r["name"], r["port"], r["offset"], r["frac"], ref, r["direction"])
    return case


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    torch.set_num_threads(1)
    cases = default_cases(deit="--no-deit" not in argv)
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    index = [write_case(c) for c in cases]
    (GOLDEN_DIR / "manifest.txt").write_text("".join(f"{e['dir']}\n" for e in index))
    (GOLDEN_DIR / "index.json").write_text(
        json.dumps(dict(spec_version=es.load_spec()["version"], cases=index), indent=1)
    )
    print(f"wrote {len(index)} golden cases to {GOLDEN_DIR.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
