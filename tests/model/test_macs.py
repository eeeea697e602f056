"""The analytic MAC counter against torch's FlopCounterMode on the real forward and backward."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode, bmm_flop

from model.factory import build_model
from model.tri_level import TriLevelConfig, patch_model
from tests.model._vit_reference import tiny_vit


def _sdpa_cpu_forward(query, key, value, *args, out_shape=None, **kwargs):
    b, h, n_q, d = query
    n_k = key[2]
    return bmm_flop((b * h, n_q, d), (b * h, d, n_k)) + bmm_flop((b * h, n_q, n_k), (b * h, n_k, d))


def _sdpa_cpu_backward(grad_out, query, key, value, *args, out_shape=None, **kwargs):
    return 2 * _sdpa_cpu_forward(query, key, value)  # dQ, dK, dA, dV; no score recompute counted


# FlopCounterMode knows the CUDA fused kernels; teach it the CPU one.
_CPU_SDPA = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu_forward,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _sdpa_cpu_backward,
}


def _measured_macs(net, x):
    with FlopCounterMode(display=False, custom_mapping=_CPU_SDPA) as counter:
        y = net(x)
    forward = counter.get_total_flops() // 2
    with FlopCounterMode(display=False, custom_mapping=_CPU_SDPA) as counter:
        y.sum().backward()
    return forward, counter.get_total_flops() // 2


@pytest.mark.parametrize("impl", ["mask", "gather"])
@pytest.mark.parametrize("token_keep,attn_keep", [(1.0, 1.0), (0.7, 1.0), (0.6, 0.4), (1.0, 0.25)])
def test_counter_matches_flop_counter(impl, token_keep, attn_keep):
    torch.manual_seed(0)
    net = patch_model(
        tiny_vit(), TriLevelConfig(selector_blocks=(1, 2), token_keep=token_keep, attn_keep=attn_keep, attn_impl=impl)
    )
    net.train()
    batch = 3
    forward, backward = _measured_macs(net, torch.randn(batch, 1, 16, 16))
    counted = net.tri_level.macs(batch)
    assert counted["forward_executed"] == forward
    assert counted["backward_executed"] == backward
    if impl == "gather":
        assert counted["forward"] == counted["forward_executed"]


def test_dense_deit_tiny_matches_the_textbook_formula():
    net = build_model("deit_tiny_patch16_224", tri_level=TriLevelConfig(token_keep=1.0))
    n, c, depth = 197, 192, 12
    per_block = n * c * 3 * c + 2 * n * n * c + n * c * c + 2 * n * c * 4 * c
    patch = 196 * 3 * 16 * 16 * c
    cls_row = n * c  # the trainer's last-block [CLS] row (train mode)
    forward = patch + depth * per_block + c * 1000 + cls_row
    counted = net.tri_level.macs(2)
    assert counted["forward"] == 2 * forward
    assert counted["forward"] / 2 == pytest.approx(1.26e9, rel=0.02)  # DeiT-Ti: 1.3 GFLOPs (MACs)
    assert counted["backward"] == 2 * (patch + 2 * (depth * per_block + c * 1000))


def test_token_pruning_saves_what_the_token_counts_say():
    net = build_model("deit_tiny_patch16_224", tri_level=TriLevelConfig(token_keep=0.7))
    dense = net.tri_level.macs(1, keep=(1.0, 1.0))["forward"]
    sparse = net.tri_level.macs(1)["forward"]
    # blocks 0-3 attend over 197 tokens, the MLP of block 3 and blocks 4-6 over 138, ... (ceil(0.7 N))
    assert 0.55 < sparse / dense < 0.75
    with pytest.raises(ValueError, match="batch_size"):
        net.tri_level.macs(-1)
