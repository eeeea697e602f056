"""Onion's PyTorch reference: Tri-Level E-ViT on timm Vision Transformers."""

from .torchvision_compat import ensure_torchvision_importable

ensure_torchvision_importable()  # before anything imports torchvision or timm
