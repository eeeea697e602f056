"""Fresh weights for a config, initialised the way timm's VisionTransformer does (numpy)."""

from __future__ import annotations

import numpy as np

from host.bundle import expected_shapes
from host.model_configs import POS_EMBED_INITS, num_tokens

SINCOS_TEMPERATURE = 10000.0


def sincos_pos_embed(grid: int, dim: int, temperature: float = SINCOS_TEMPERATURE) -> np.ndarray:
    """[grid * grid, dim] 2-D sine-cosine position values of a row-major patch grid, in the layout of
    timm's build_sincos2d_pos_embed: per patch [sin(y f), sin(x f), cos(y f), cos(x f)] over the
    dim/4 frequencies f_i = temperature^(-i / (dim/4))."""
    if dim % 4:
        raise ValueError(f"sincos pos_embed: embed_dim = {dim} must be a multiple of 4")
    freqs = 1.0 / temperature ** (np.arange(dim // 4) / (dim // 4))
    y, x = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
    py, px = y.reshape(-1, 1) * freqs, x.reshape(-1, 1) * freqs
    return np.concatenate([np.sin(py), np.sin(px), np.cos(py), np.cos(px)], axis=1)


def initial_pos_embed(config: dict, how: str, rng: np.random.Generator | None = None) -> np.ndarray:
    """pos_embed [1, N, D] as `how` (POS_EMBED_INITS) starts it: sincos values for the patches
    with a zero [CLS] row (no rng needed), or timm's trunc_normal(std .02) drawn from rng."""
    n, d = num_tokens(config), config["embed_dim"]
    if how == "trunc_normal":
        if rng is None:  # a silent unseeded draw would make runs irreproducible
            raise ValueError("pos_embed init trunc_normal: needs the caller's random generator")
        return _trunc_normal(rng, (1, n, d), 0.02)
    if how == "sincos":
        grid = config["img_size"] // config["patch_size"]
        return np.concatenate([np.zeros((1, d)), sincos_pos_embed(grid, d)])[None]
    raise ValueError(f"pos_embed init: {how!r} is not one of {', '.join(POS_EMBED_INITS)}")


def _trunc_normal(rng: np.random.Generator, shape: int | tuple[int, ...], std: float) -> np.ndarray:
    """Normal(0, std) truncated to [-2, 2] (timm's absolute bounds) by resampling."""
    out = rng.normal(0.0, std, size=shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.normal(0.0, std, size=int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out


def init_weights(config: dict, seed: int = 0, pos_embed: str = "trunc_normal") -> dict[str, np.ndarray]:
    """Linear weights trunc_normal(std .02), biases 0, LayerNorm 1/0, pos_embed as `pos_embed` says
    (initial_pos_embed), cls_token normal(1e-6), patch conv PyTorch's default uniform(+-1/sqrt(fan_in))."""
    rng = np.random.default_rng(seed)
    weights = {}
    for name, shape in expected_shapes(config).items():
        if name == "cls_token":
            w = rng.normal(0.0, 1e-6, size=shape)
        elif name == "pos_embed":
            w = initial_pos_embed(config, pos_embed, rng)
        elif name.startswith("patch_embed."):
            fan_in = int(np.prod(expected_shapes(config)["patch_embed.proj.weight"][1:]))
            w = rng.uniform(-1.0, 1.0, size=shape) / np.sqrt(fan_in)
        elif "norm" in name:
            w = np.ones(shape) if name.endswith(".weight") else np.zeros(shape)
        elif name.endswith(".bias"):
            w = np.zeros(shape)
        else:
            w = _trunc_normal(rng, shape, 0.02)
        weights[name] = w.astype(np.float32)
    return weights
