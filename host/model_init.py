"""Fresh weights for a config, initialised the way timm's VisionTransformer does (numpy)."""

from __future__ import annotations

import numpy as np

from host.bundle import expected_shapes


def _trunc_normal(rng, shape, std):
    """Normal(0, std) truncated to [-2, 2] (timm's absolute bounds) by resampling."""
    out = rng.normal(0.0, std, size=shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.normal(0.0, std, size=int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out


def init_weights(config: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """Linear weights trunc_normal(std .02), biases 0, LayerNorm 1/0, pos_embed trunc_normal(.02),
    cls_token normal(1e-6), patch conv PyTorch's default uniform(+-1/sqrt(fan_in))."""
    rng = np.random.default_rng(seed)
    weights = {}
    for name, shape in expected_shapes(config).items():
        if name == "cls_token":
            w = rng.normal(0.0, 1e-6, size=shape)
        elif name == "pos_embed":
            w = _trunc_normal(rng, shape, 0.02)
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
