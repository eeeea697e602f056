"""A float ViT in numpy, forward and backward for one sample, with the host's TA-selection.

The float twin of the engine model (host/engine_model.py): same layer order, same selection points,
same interface. It is the float side of the fixed-point accuracy comparison and lets the host run
without an engine. Layer math follows timm's VisionTransformer (pre-norm blocks, exact-erf GELU,
LayerNorm eps 1e-6, [CLS] pooling).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import sqrt

import numpy as np

from host import ta_selector
from host.model_configs import num_tokens
from host.ta_selector import Selection

LN_EPS = 1e-6


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to ~1e-7 (Abramowitz & Stegun 7.1.26); numpy has none and scipy is not on the board."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def patchify(image: np.ndarray, patch: int) -> np.ndarray:
    """[C, H, W] -> [P, C*p*p] rows in raster order, each row (c, ky, kx) like a conv weight."""
    c, h, w = image.shape
    x = image.reshape(c, h // patch, patch, w // patch, patch)
    return x.transpose(1, 3, 0, 2, 4).reshape((h // patch) * (w // patch), c * patch * patch)


def gelu(u: np.ndarray) -> np.ndarray:
    return 0.5 * u * (1.0 + _erf(u / sqrt(2.0)))


def gelu_grad(u: np.ndarray) -> np.ndarray:
    cdf = 0.5 * (1.0 + _erf(u / sqrt(2.0)))
    return cdf + u * np.exp(-0.5 * u * u) / sqrt(2.0 * np.pi)


def layernorm(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    mu = x.mean(-1, keepdims=True)
    xc = x - mu
    rstd = 1.0 / np.sqrt((xc * xc).mean(-1, keepdims=True) + LN_EPS)
    xhat = xc * rstd
    return xhat * g + b, (xhat, rstd)


def layernorm_backward(
    dy: np.ndarray, g: np.ndarray, cache: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xhat, rstd = cache
    dg = (dy * xhat).sum(0)
    db = dy.sum(0)
    dxhat = dy * g
    dx = rstd * (dxhat - dxhat.mean(-1, keepdims=True) - xhat * (dxhat * xhat).mean(-1, keepdims=True))
    return dx, dg, db


def softmax_masked(s: np.ndarray, mask: np.ndarray) -> np.ndarray:
    s = np.where(mask, s, -np.inf)
    s = s - s.max(-1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(-1, keepdims=True)


@dataclass
class SampleResult:
    logits: np.ndarray
    cls_attn_var: float
    stages: list = field(default_factory=list)  # per stage: (original token ids kept, keys)
    macs: int = 0
    saturations: int = 0
    cache: object = None


class FloatViT:
    def __init__(self, config: dict, dtype: type[np.floating] = np.float64) -> None:
        self.cfg = config
        self.dtype = dtype
        self.heads = config["num_heads"]
        self.dim = config["embed_dim"]
        self.w: dict[str, np.ndarray] = {}

    def load_weights(self, weights: dict[str, np.ndarray]) -> None:
        self.w = {k: np.asarray(v, dtype=self.dtype) for k, v in weights.items()}

    # ---------------------------------------------------------------------------------------
    def _attention(
        self, h: np.ndarray, p: str, mask: np.ndarray
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        w, d, nh = self.w, self.dim, self.heads
        dh = d // nh
        n = h.shape[0]
        qkv = h @ w[p + "attn.qkv.weight"].T + w[p + "attn.qkv.bias"]
        q, k, v = (qkv[:, i * d : (i + 1) * d].reshape(n, nh, dh).transpose(1, 0, 2) for i in range(3))
        scale = dh**-0.5
        probs = softmax_masked(q @ k.transpose(0, 2, 1) * scale, mask)
        o = (probs @ v).transpose(1, 0, 2).reshape(n, d)
        a = o @ w[p + "attn.proj.weight"].T + w[p + "attn.proj.bias"]
        return a, (q, k, v, probs, o)

    def forward(self, image: np.ndarray, selection: Selection, train: bool = True) -> SampleResult:
        cfg, w = self.cfg, self.w
        patches = patchify(np.asarray(image, dtype=self.dtype), cfg["patch_size"])
        emb = patches @ w["patch_embed.proj.weight"].reshape(self.dim, -1).T + w["patch_embed.proj.bias"]
        x = np.concatenate([w["cls_token"][0], emb], 0) + w["pos_embed"][0]
        ids = np.arange(num_tokens(cfg))
        keys = None
        caches, stages, attn_avg = [], [], None
        macs = patches.size * self.dim
        for i in range(cfg["depth"]):
            p = f"blocks.{i}."
            is_selector = i in selection.blocks and selection.active()
            if is_selector and selection.dense_selectors:
                keys = None  # by default a selector block attends over the previous lists too
            n = x.shape[0]
            mask = ta_selector.key_mask(n, keys)
            h1, ln1 = layernorm(x, w[p + "norm1.weight"], w[p + "norm1.bias"])
            a, att = self._attention(h1, p, mask)
            x2 = x + a
            attn_avg = att[3].mean(0)
            gather = None
            if is_selector:
                sel = selection.select(selection.blocks.index(i), attn_avg, ids)
                gather = (sel.keep, n)
                x2, ids, keys = x2[sel.keep], ids[sel.keep], sel.keys
                stages.append((ids.copy(), None if keys is None else keys.copy()))
            h2, ln2 = layernorm(x2, w[p + "norm2.weight"], w[p + "norm2.bias"])
            u = h2 @ w[p + "mlp.fc1.weight"].T + w[p + "mlp.fc1.bias"]
            g = gelu(u)
            x = x2 + g @ w[p + "mlp.fc2.weight"].T + w[p + "mlp.fc2.bias"]
            caches.append((gather, h1, ln1, att, mask, h2, ln2, u, g))
            d, hid, n_out = self.dim, u.shape[1], x.shape[0]
            macs += n * d * 4 * d + n_out * d * 2 * hid + 2 * int(mask.sum()) * d
        hf, lnf = layernorm(x[:1], w["norm.weight"], w["norm.bias"])
        logits = (hf @ w["head.weight"].T + w["head.bias"])[0]
        macs += self.dim * cfg["num_classes"]
        var = ta_selector.cls_attention_variance(attn_avg)
        return SampleResult(
            logits=logits, cls_attn_var=var, stages=stages, macs=macs, cache=(patches, caches, hf, lnf, x.shape[0])
        )

    # ---------------------------------------------------------------------------------------
    def backward(self, result: SampleResult, dlogits: np.ndarray) -> dict[str, np.ndarray]:
        w, d, nh = self.w, self.dim, self.heads
        dh = d // nh
        patches, caches, hf, lnf, n_last = result.cache
        dlogits = np.asarray(dlogits, dtype=self.dtype)[None]
        grads = {"head.weight": dlogits.T @ hf, "head.bias": dlogits[0]}
        dhf = dlogits @ w["head.weight"]
        dcls, grads["norm.weight"], grads["norm.bias"] = layernorm_backward(dhf, w["norm.weight"], lnf)
        dx = np.zeros((n_last, d), dtype=self.dtype)
        dx[:1] = dcls
        for i in reversed(range(self.cfg["depth"])):
            p = f"blocks.{i}."
            gather, h1, ln1, (q, k, v, probs, o), mask, h2, ln2, u, g = caches[i]
            n = h1.shape[0]
            # MLP
            grads[p + "mlp.fc2.weight"] = dx.T @ g
            grads[p + "mlp.fc2.bias"] = dx.sum(0)
            du = (dx @ w[p + "mlp.fc2.weight"]) * gelu_grad(u)
            grads[p + "mlp.fc1.weight"] = du.T @ h2
            grads[p + "mlp.fc1.bias"] = du.sum(0)
            dln2, grads[p + "norm2.weight"], grads[p + "norm2.bias"] = layernorm_backward(
                du @ w[p + "mlp.fc1.weight"], w[p + "norm2.weight"], ln2
            )
            dx2 = dx + dln2
            if gather is not None:  # tokens dropped after this attention get no gradient from later
                keep, n_before = gather
                full = np.zeros((n_before, d), dtype=self.dtype)
                full[keep] = dx2
                dx2 = full
            # attention
            grads[p + "attn.proj.weight"] = dx2.T @ o
            grads[p + "attn.proj.bias"] = dx2.sum(0)
            do = (dx2 @ w[p + "attn.proj.weight"]).reshape(n, nh, dh).transpose(1, 0, 2)
            dp = do @ v.transpose(0, 2, 1)
            dv = probs.transpose(0, 2, 1) @ do
            ds = probs * (dp - (dp * probs).sum(-1, keepdims=True)) * dh**-0.5
            dq = ds @ k
            dk = ds.transpose(0, 2, 1) @ q
            dqkv = np.concatenate([t.transpose(1, 0, 2).reshape(n, d) for t in (dq, dk, dv)], 1)
            grads[p + "attn.qkv.weight"] = dqkv.T @ h1
            grads[p + "attn.qkv.bias"] = dqkv.sum(0)
            dln1, grads[p + "norm1.weight"], grads[p + "norm1.bias"] = layernorm_backward(
                dqkv @ w[p + "attn.qkv.weight"], w[p + "norm1.weight"], ln1
            )
            dx = dx2 + dln1
        grads["pos_embed"] = dx[None].copy()
        grads["cls_token"] = dx[None, :1].copy()
        demb = dx[1:]
        grads["patch_embed.proj.weight"] = (demb.T @ patches).reshape(w["patch_embed.proj.weight"].shape)
        grads["patch_embed.proj.bias"] = demb.sum(0)
        return grads
