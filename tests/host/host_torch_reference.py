"""The host tests' float reference: the one in tests/model/_vit_reference.py (shared with the model
tests), under the name the host tests import."""

from tests.model._vit_reference import timm_logits, torch_vit_loss

__all__ = ["timm_logits", "torch_vit_loss"]
