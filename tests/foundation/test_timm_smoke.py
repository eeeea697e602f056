"""timm imports through the torchvision shim and a ViT runs forward and backward."""

import torch

from model.torchvision_compat import ensure_torchvision_importable  # noqa: E402

ensure_torchvision_importable()  # the CPU torchvision shim, before timm is imported
import timm  # noqa: E402


def test_torchvision_imports_after_shim():
    import torchvision

    assert torchvision.__version__.startswith("0.28")


def test_vit_forward_backward_matches_shapes_and_grads():
    torch.manual_seed(0)
    shape = dict(img_size=32, patch_size=4, embed_dim=32, depth=2, num_heads=2, num_classes=10)
    net = timm.create_model("vit_tiny_patch16_224", pretrained=False, **shape)
    x = torch.randn(2, 3, 32, 32)
    logits = net(x)
    assert logits.shape == (2, 10)
    logits.sum().backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
