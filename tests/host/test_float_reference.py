"""The host's numpy pieces against independent references: the float ViT twin against timm and
torch autograd, the TA-Selector against model/ta_selector.py, the digits against model/data.py."""

import numpy as np
import torch
from host_fixtures import TINY
from host_torch_reference import timm_logits, torch_vit_loss

from host import ta_selector
from host.loss import cross_entropy
from host.model_init import init_weights
from host.vit_float import FloatViT, Selection


def weights(seed=0):
    rng = np.random.default_rng(seed)
    return {k: (v + rng.normal(0, 0.05, v.shape)).astype(np.float32) for k, v in init_weights(TINY, seed).items()}


def test_torch_reference_is_timm():
    w, img = weights(), np.random.default_rng(1).normal(size=(1, 16, 16))
    np.testing.assert_allclose(torch_vit_loss(w, TINY, img, 0)[1], timm_logits(w, TINY, img), atol=1e-10)


def test_float_twin_forward_backward_with_selection():
    torch.set_num_threads(1)
    w, img = weights(3), np.random.default_rng(2).normal(size=(1, 16, 16))
    model = FloatViT(TINY)
    model.load_weights(w)
    res = model.forward(img, Selection([1, 2], token_keep=0.7, attn_keep=0.4))
    loss, dlogits = cross_entropy(res.logits, 5, smoothing=0.1)
    grads = model.backward(res, dlogits)
    positions, prev = [], np.arange(17)
    for ids, keys in res.stages:
        positions.append((np.searchsorted(prev, ids), keys))
        prev = ids
    assert res.stages[0][1] is not None  # key lists were really used
    t_loss, t_logits, t_grads = torch_vit_loss(w, TINY, img, 5, [1, 2], positions, label_smoothing=0.1)
    assert abs(loss - t_loss) < 1e-6
    np.testing.assert_allclose(res.logits, t_logits, atol=1e-6)
    for k in t_grads:  # erf approximation ~1e-7
        np.testing.assert_allclose(grads[k], t_grads[k], atol=1e-5, err_msg=k)


def test_ta_selector_matches_the_pytorch_reference():
    from model.ta_selector import kept_count, restrict_map, select_keys, select_tokens

    rng = np.random.default_rng(4)
    for n, rt, ra in [(17, 0.7, 0.3), (65, 0.5, 0.5), (12, 0.9, 0.2)]:
        attn = rng.random((n, n))
        attn /= attn.sum(1, keepdims=True)
        sel = ta_selector.select_stage(attn, rt, ra)
        t = torch.tensor(attn)[None]
        keep = select_tokens(t[:, 0, 1:], kept_count(rt, n - 1))
        np.testing.assert_array_equal(sel.keep, keep[0].numpy())
        chosen = kept_count(ra, keep.shape[1] - 1)
        keys = select_keys(restrict_map(t, keep), chosen)
        np.testing.assert_array_equal(sel.keys, keys[0].numpy())
        assert ta_selector.n_keep_tokens(n - 1, rt) == kept_count(rt, n - 1)


def test_digits_match_an_independent_torch_pipeline():
    """host/digits.py (numpy, also used by model/data.py) against torch's bilinear upscaling and
    scikit-learn's stratified split, written out here independently."""
    import torch.nn.functional as F
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from host.digits import load_digits_split

    x_train, y_train, x_test, y_test = load_digits_split(16)
    d = load_digits()
    imgs = F.interpolate(
        torch.tensor(d.images, dtype=torch.float64)[:, None] / 16.0, size=(16, 16), mode="bilinear", align_corners=False
    )
    tr, te = train_test_split(np.arange(len(d.target)), test_size=0.2, stratify=d.target, random_state=0)
    tr, te = np.sort(tr), np.sort(te)
    mean, std = imgs[tr].mean(), imgs[tr].std(unbiased=False)
    np.testing.assert_allclose(x_train, ((imgs[tr] - mean) / std).numpy(), atol=1e-5)
    np.testing.assert_allclose(x_test, ((imgs[te] - mean) / std).numpy(), atol=1e-5)
    np.testing.assert_array_equal(y_train, d.target[tr])
    np.testing.assert_array_equal(y_test, d.target[te])


def test_cross_entropy_gradient_matches_torch():
    z = np.random.default_rng(5).normal(size=10)
    t = torch.tensor(z, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(t[None], torch.tensor([3]), label_smoothing=0.1)
    loss.backward()
    ours, grad = cross_entropy(z, 3, 0.1)
    assert abs(ours - loss.item()) < 1e-12
    np.testing.assert_allclose(grad, t.grad.numpy(), atol=1e-12)


def test_sincos_pos_embed_is_timms_build_sincos2d_pos_embed():
    from timm.layers.pos_embed_sincos import build_sincos2d_pos_embed

    from host.model_init import sincos_pos_embed

    for grid, dim in ((8, 64), (4, 32), (14, 192)):
        expected = build_sincos2d_pos_embed([grid, grid], dim=dim).numpy()
        np.testing.assert_allclose(sincos_pos_embed(grid, dim), expected, atol=1e-6)


def test_both_trainers_start_pos_embed_alike():
    """model/ (PyTorch) and host/ (numpy) give the same fresh pos_embed for each initialisation."""
    from host.model_configs import get_config
    from model.factory import build_model

    cfg = get_config("onion_tiny")
    host_sincos = init_weights(cfg, 0, "sincos")["pos_embed"]
    torch_sincos = build_model("onion_tiny").pos_embed.detach().numpy()  # the onion_* default
    np.testing.assert_allclose(torch_sincos, host_sincos, atol=1e-6)
    assert np.all(host_sincos[0, 0] == 0) and np.abs(host_sincos).max() == 1.0
    timm_default = build_model("onion_tiny", pos_embed_init="trunc_normal").pos_embed.detach().numpy()
    assert 0.01 < timm_default.std() < 0.03  # timm's own trunc_normal(.02) draw, untouched
    assert 0.01 < init_weights(cfg, 0)["pos_embed"].std() < 0.03
