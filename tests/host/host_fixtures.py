"""Shared settings of the host tests (a module name no other test folder uses)."""

# A ViT small enough for op-by-op engine tests: 16 patches + [CLS], head dim 16, three blocks.
TINY = dict(img_size=16, patch_size=4, in_chans=1, embed_dim=32, depth=3, num_heads=2, mlp_ratio=2.0, num_classes=10)


def small_run(**overrides: object) -> object:
    """Settings of a short Tri-Level training run on TINY: 3 epochs of 10 samples, batch 4, every level
    active (selectors at 1 and 2, R_T 0.7, R_A 0.5, r_e 0.8 swapped every epoch), 5 test images."""
    from host.trainer import TrainSettings

    base = dict(
        epochs=3,
        batch=4,
        lr=2e-3,
        selector_blocks=[1, 2],
        token_keep=0.7,
        attn_keep=0.5,
        example_keep=0.8,
        example_interval=1,
        example_swap=2,
        warmup_epochs=0.5,
        max_samples_per_epoch=10,
        eval_samples=5,
    )
    return TrainSettings(**{**base, **overrides})
