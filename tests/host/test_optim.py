"""The host's gradient clipping against torch.nn.utils.clip_grad_norm_ (what model.train's --clip-grad runs)."""

import numpy as np
import pytest
import torch

from host.optim import clip_grad_norm


def _grads(scale, seed=0):
    rng = np.random.default_rng(seed)
    return {"w": rng.normal(0, scale, (7, 5)).astype(np.float32), "b": rng.normal(0, scale, 5).astype(np.float32)}


@pytest.mark.parametrize("scale", [0.01, 1.0])  # below and above the limit
def test_clip_grad_norm_matches_torch(scale):
    grads = _grads(scale)
    tensors = {k: torch.zeros(v.shape, requires_grad=True) for k, v in grads.items()}
    for k, t in tensors.items():
        t.grad = torch.tensor(grads[k])
    torch_norm = torch.nn.utils.clip_grad_norm_(list(tensors.values()), max_norm=1.0)
    norm = clip_grad_norm(grads, 1.0)
    assert norm == pytest.approx(float(torch_norm), rel=1e-6)
    for k, t in tensors.items():
        np.testing.assert_allclose(grads[k], t.grad.numpy(), rtol=1e-6, atol=1e-9)
    clipped = np.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads.values()))
    assert clipped <= 1.0 + 1e-6
    assert (clipped < norm) == (norm > 1.0)


def test_float_twin_step_is_the_mean_of_its_samples_gradients():
    """The trainer's step on a model without engine accumulators (the float twin): per-sample
    gradients summed in order, divided by the step's samples, clipped, then AdamW."""
    from host_fixtures import TINY

    from host.loss import cross_entropy
    from host.model_init import init_weights
    from host.optim import AdamW
    from host.trainer import Trainer, TrainSettings
    from host.vit_float import FloatViT, Selection

    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(6, 1, 16, 16)).astype(np.float32), rng.integers(0, 10, 6)
    settings = TrainSettings(
        epochs=1, batch=3, selector_blocks=[1, 2], example_keep=1.0, token_keep=1.0, attn_keep=1.0,
        max_samples_per_epoch=3, eval_samples=0, clip_grad=0.05, warmup_epochs=0.0,
    )  # fmt: skip
    weights = init_weights(TINY, 0)
    trainer = Trainer(FloatViT(TINY, np.float32), TINY, weights, (x, y, x, y), settings, progress=False)
    order = trainer._order(0)
    trainer.train_epoch()

    model = FloatViT(TINY, np.float32)
    model.load_weights(weights)
    total = None
    for i in order:
        res = model.forward(x[i], Selection([1, 2], 1.0, 1.0))
        g = model.backward(res, cross_entropy(res.logits, int(y[i]), 0.1)[1])
        total = {k: v.astype(np.float64) for k, v in g.items()} if total is None else {k: total[k] + g[k] for k in g}
    grads = {k: (v / 3).astype(np.float32) for k, v in total.items()}
    assert clip_grad_norm(grads, 0.05) > 0.05  # the limit bites
    expected = {k: v.copy() for k, v in weights.items()}
    AdamW(expected, lr=trainer._lr(1.0), weight_decay=0.05).step(grads)
    for k in expected:
        np.testing.assert_allclose(trainer.master[k], expected[k], rtol=1e-6, atol=1e-7, err_msg=k)
