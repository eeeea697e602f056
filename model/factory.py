"""Builds the named models of host/model_configs.py (or any timm ViT) with the TA-Selector."""

from __future__ import annotations

from typing import TYPE_CHECKING

from model.torchvision_compat import ensure_torchvision_importable

ensure_torchvision_importable()  # before timm: PyPI torchvision on a CPU-only torch build
import timm  # noqa: E402
from timm.models.vision_transformer import VisionTransformer  # noqa: E402

from host.model_configs import CONFIGS, SHAPE_KEYS, default_pos_embed_init  # noqa: E402

if TYPE_CHECKING:
    from model.tri_level import TriLevelConfig

_BASE_ARCH = "vit_tiny_patch16_224"  # a plain timm ViT (class token, qkv bias) to re-shape


def create_timm_model(name: str, **overrides: object) -> VisionTransformer:
    """A dense timm ViT: names from host/model_configs.py take their shape from that table
    (DeiT names use timm's DeiT definition, others the plain ViT); other timm names as they are."""
    if overrides.get("num_classes", 0) is None:
        overrides.pop("num_classes")
    if name in CONFIGS:
        shape = {k: CONFIGS[name][k] for k in SHAPE_KEYS}
        arch = name if name in timm.list_models(name) else _BASE_ARCH
        return timm.create_model(arch, pretrained=False, **{**shape, **overrides})
    if not timm.list_models(name):
        raise ValueError(
            f"model: unknown name {name!r}; known configs: {', '.join(sorted(CONFIGS))} or any timm ViT name"
        )
    return timm.create_model(name, pretrained=False, **overrides)


def init_pos_embed(model: VisionTransformer, how: str) -> None:
    """Starts a timm ViT's pos_embed as host/model_init.py's initial_pos_embed says (the host's one
    definition): "sincos" writes its values, "trunc_normal" keeps timm's own draw."""
    import torch

    from host.model_init import initial_pos_embed

    if how == "trunc_normal":
        return
    grid = model.patch_embed.grid_size
    config = dict(img_size=grid[0] * model.patch_embed.patch_size[0], patch_size=model.patch_embed.patch_size[0])
    values = initial_pos_embed({**config, "embed_dim": model.embed_dim}, how)
    if grid[0] != grid[1] or tuple(model.pos_embed.shape) != values.shape:
        raise ValueError(
            f"pos_embed init {how!r}: needs a square grid and a [CLS] row, got {tuple(model.pos_embed.shape)}"
        )
    with torch.no_grad():
        model.pos_embed.copy_(torch.as_tensor(values, dtype=model.pos_embed.dtype))


def build_model(
    name: str, tri_level: TriLevelConfig | None = None, pos_embed_init: str | None = None, **overrides: object
) -> VisionTransformer:
    """A timm ViT patched with the TA-Selector (`tri_level`: TriLevelConfig, default config if None);
    pos_embed starts as `pos_embed_init` says (default: host.model_configs.default_pos_embed_init)."""
    from model.tri_level import TriLevelConfig, patch_model

    net = create_timm_model(name, **overrides)
    init_pos_embed(net, pos_embed_init or default_pos_embed_init(name))
    return patch_model(net, tri_level or TriLevelConfig())
