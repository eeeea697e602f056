"""Shared settings of the host tests (a module name no other test folder uses)."""

# A ViT small enough for op-by-op engine tests: 16 patches + [CLS], head dim 16, three blocks.
TINY = dict(img_size=16, patch_size=4, in_chans=1, embed_dim=32, depth=3, num_heads=2, mlp_ratio=2.0, num_classes=10)
