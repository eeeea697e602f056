"""Named ViT configurations shared by the PyTorch reference and the board host (plain dicts).

The one place a model's shape is declared: `model/` builds timm models from it, `host/` builds
its engine-side model from it, and bundles record it.
"""

from __future__ import annotations

# The keys every config declares (all a timm VisionTransformer takes as they are; bundles require them).
SHAPE_KEYS = ("img_size", "patch_size", "in_chans", "embed_dim", "depth", "num_heads", "mlp_ratio", "num_classes")

CONFIGS: dict[str, dict] = {
    # CPU/test model for the embedded digits data (8x8 digits upscaled to 32x32, 1 channel).
    "onion_tiny": dict(
        img_size=32, patch_size=4, in_chans=1, embed_dim=64, depth=12, num_heads=4, mlp_ratio=4.0, num_classes=10
    ),
    # The board demo's default (host/train_on_board.py): digits upscaled to 16x16, 16 patches, four
    # blocks (selectors at 1, 2, 3) - small enough for ten epochs through the engine's C-sim on a CPU.
    "onion_micro": dict(
        img_size=16, patch_size=4, in_chans=1, embed_dim=64, depth=4, num_heads=4, mlp_ratio=2.0, num_classes=10
    ),
    # The paper's models (ImageNet, 224x224).
    "deit_tiny_patch16_224": dict(
        img_size=224, patch_size=16, in_chans=3, embed_dim=192, depth=12, num_heads=3, mlp_ratio=4.0, num_classes=1000
    ),
    "deit_small_patch16_224": dict(
        img_size=224, patch_size=16, in_chans=3, embed_dim=384, depth=12, num_heads=6, mlp_ratio=4.0, num_classes=1000
    ),
    "deit_base_patch16_224": dict(
        img_size=224, patch_size=16, in_chans=3, embed_dim=768, depth=12, num_heads=12, mlp_ratio=4.0, num_classes=1000
    ),
}

# How pos_embed starts (both trainers; --pos-embed-init overrides). "sincos": the patch positions get
# fixed 2-D sine-cosine values ([CLS] zero), still learned from there, as MAE starts its ViTs. On the
# digits a token is about one source pixel, so a position the model must first learn from 0.02-std
# noise is what stalls training: onion_tiny reaches 95 % in 7 float epochs from sincos, not in 10 from
# timm's trunc_normal (docs/host.md). "trunc_normal": timm's default (std .02), the paper's DeiTs.
POS_EMBED_INITS = ("sincos", "trunc_normal")
_POS_EMBED_INIT = {"onion_tiny": "sincos", "onion_micro": "sincos"}


def default_pos_embed_init(name: str) -> str:
    """The pos_embed initialisation a model starts from unless told otherwise (POS_EMBED_INITS)."""
    return _POS_EMBED_INIT.get(name, "trunc_normal")


def get_config(name: str) -> dict:
    try:
        return dict(CONFIGS[name])
    except KeyError:
        raise KeyError(f"unknown model config {name!r}; known: {', '.join(sorted(CONFIGS))}") from None


def num_tokens(cfg: dict) -> int:
    """Patch tokens plus [CLS]."""
    return (cfg["img_size"] // cfg["patch_size"]) ** 2 + 1


def patch_dim(cfg: dict) -> int:
    """Inputs of the patch embedding: in_chans * patch_size**2."""
    return cfg["in_chans"] * cfg["patch_size"] ** 2


def mlp_hidden(cfg: dict) -> int:
    """Hidden width of the blocks' MLP: int(embed_dim * mlp_ratio), as timm's Block."""
    return int(cfg["embed_dim"] * cfg["mlp_ratio"])
