"""Builds the named models of host/model_configs.py (or any timm ViT) with the TA-Selector."""

from __future__ import annotations

from model.torchvision_compat import ensure_torchvision_importable

ensure_torchvision_importable()  # before timm: PyPI torchvision on a CPU-only torch build
import timm  # noqa: E402

from host.model_configs import CONFIGS, SHAPE_KEYS  # noqa: E402

_BASE_ARCH = "vit_tiny_patch16_224"  # a plain timm ViT (class token, qkv bias) to re-shape


def create_timm_model(name: str, **overrides):
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


def build_model(name: str, tri_level=None, **overrides):
    """A timm ViT patched with the TA-Selector (`tri_level`: TriLevelConfig, default config if None)."""
    from model.tri_level import TriLevelConfig, patch_model

    return patch_model(create_timm_model(name, **overrides), tri_level or TriLevelConfig())
