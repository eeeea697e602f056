"""The engine driver: op sequence, limits checked before any call, the pynq adapter's common path
against csim, and one training step through the engine against PyTorch autograd."""

import numpy as np
import pytest
import torch
from host_engine_fakes import FakeAllocator, FakeEngineIP, RecordingBackend
from host_fixtures import TINY
from host_torch_reference import torch_vit_loss

from host import engine_spec
from host.backends.csim import CsimBackend
from host.backends.pynq_backend import PynqBackend
from host.engine_driver import EngineDriver
from host.engine_memory import EngineLimitError, check_config
from host.engine_model import EngineViT
from host.loss import cross_entropy
from host.model_init import init_weights
from host.optim import AdamW
from host.ta_selector import n_keep_keys, n_keep_tokens
from host.vit_float import Selection

BLOCKS = [1, 2]


def perturbed_weights(seed=0, scale=0.05):
    rng = np.random.default_rng(seed)
    w = init_weights(TINY, seed)
    return {k: (v + rng.normal(0, scale, v.shape)).astype(np.float32) for k, v in w.items()}


def image(seed=0):
    return np.random.default_rng(100 + seed).normal(size=(1, 16, 16))


def engine(backend=None):
    backend = backend or CsimBackend(words=EngineDriver.required_words(TINY))
    return EngineViT(EngineDriver(backend, TINY))


def test_op_sequence_and_registers():
    rec = RecordingBackend(CsimBackend(words=EngineDriver.required_words(TINY)))
    model = engine(rec)
    model.load_weights(perturbed_weights())
    res = model.forward(image(), Selection(BLOCKS, token_keep=0.7, attn_keep=0.5))
    model.backward(res, cross_entropy(res.logits, 3)[1])
    ops = [op for op, _ in rec.calls]
    depth = TINY["depth"]
    assert ops == (
        ["PATCH_EMBED_FWD"]
        + ["ATTN_FWD", "MLP_FWD"] * depth
        + ["HEAD_FWD", "HEAD_BWD"]
        + ["MLP_BWD", "ATTN_BWD"] * depth
        + ["PATCH_EMBED_BWD"]
    )
    attn_fwd = [r for op, r in rec.calls if op == "ATTN_FWD"]
    mlp_fwd = [r for op, r in rec.calls if op == "MLP_FWD"]
    # token counts follow the Tri-Level plan: selector blocks 1 and 2 keep ceil(0.7 n) patches
    n0 = 17
    k1 = n_keep_tokens(n0 - 1, 0.7) + 1
    k2 = n_keep_tokens(k1 - 1, 0.7) + 1
    assert [r["n_tokens"] for r in attn_fwd] == [n0, n0, k1]
    assert [(r["n_tokens"], r["n_keep"]) for r in mlp_fwd] == [(n0, n0), (n0, k1), (k1, k2)]
    gather, sparse = engine_spec.flag("GATHER"), engine_spec.flag("SPARSE")
    assert [r["flags"] for r in mlp_fwd] == [0, gather, gather]
    # block 2, the next selector, attends over block 1's key lists (the paper's rule)
    assert [r["flags"] for r in attn_fwd] == [0, 0, sparse]
    # backward calls repeat the forward's buffers and flags
    attn_bwd = [r for op, r in rec.calls if op == "ATTN_BWD"][::-1]
    for f, b in zip(attn_fwd, attn_bwd):
        for reg in ("x_off", "w_off", "save_off", "flags", "n_tokens"):
            assert f[reg] == b[reg]
    # the driver writes exactly the registers each op declares
    for op, regs in rec.calls:
        assert set(regs) == set(engine_spec.op(op)["regs"]), op
    assert sum(1 for _ in rec.calls) == model.driver.counters.calls


def test_sparse_attention_after_a_selector():
    rec = RecordingBackend(CsimBackend(words=EngineDriver.required_words(TINY)))
    model = engine(rec)
    model.load_weights(perturbed_weights())
    res = model.forward(image(), Selection([1], token_keep=0.7, attn_keep=0.3))
    attn_fwd = [r for op, r in rec.calls if op == "ATTN_FWD"]
    assert [r["flags"] for r in attn_fwd] == [0, 0, engine_spec.flag("SPARSE")]
    kept, keys = res.stages[0]
    assert keys.shape == (kept.size - 1, n_keep_keys(kept.size - 1, 0.3) + 1)


def test_limits_rejected_before_the_engine_is_called():
    class NoCalls:
        def alloc(self, *a):
            raise AssertionError("allocated for a model the engine cannot run")

        def call(self, *a, **k):
            raise AssertionError("engine called")

        call_checked = call

    too_many_tokens = dict(TINY, img_size=16 * 16, patch_size=16, embed_dim=64, num_heads=4)
    too_many_tokens["img_size"] = 16 * 15  # 15x15 + 1 = 226 tokens
    with pytest.raises(EngineLimitError, match="max_tokens"):
        EngineDriver(NoCalls(), too_many_tokens)
    with pytest.raises(EngineLimitError, match="max_dim"):
        check_config(dict(TINY, embed_dim=engine_spec.limit("max_dim") * 2, num_heads=2))
    with pytest.raises(EngineLimitError, match="head dim"):
        check_config(dict(TINY, embed_dim=48, num_heads=2))  # 24 is no power of 4
    with pytest.raises(EngineLimitError, match="max_classes"):
        check_config(dict(TINY, num_classes=engine_spec.limit("max_classes") + 1))


def test_bad_selection_rejected_before_its_op():
    rec = RecordingBackend(CsimBackend(words=EngineDriver.required_words(TINY)))
    driver = EngineDriver(rec, TINY)
    driver.write_weights(perturbed_weights())
    patches = np.zeros((16, 16))

    def bad_keep(stage, attn):
        return np.array([0, 5, 3, 9]), None  # not ascending

    with pytest.raises(ValueError, match="keep"):
        driver.forward(patches, bad_keep, BLOCKS)
    assert [op for op, _ in rec.calls][-1] == "ATTN_FWD"  # the MLP_FWD was never issued

    def bad_keys(stage, attn):
        keep = np.arange(0, 17, 2)
        keys = np.tile(np.array([1, 2, 3]), (keep.size - 1, 1))  # no [CLS] key first
        return keep, keys

    rec.calls.clear()
    with pytest.raises(ValueError, match="keys"):
        driver.forward(patches, bad_keys, [0])
    assert "SPARSE" not in str([r.get("flags") for _, r in rec.calls])
    assert [op for op, _ in rec.calls].count("ATTN_FWD") == 1  # block 1's attention never ran


def test_pynq_adapter_matches_csim_bit_for_bit():
    weights = perturbed_weights(1)
    sel = Selection([1], token_keep=0.7, attn_keep=0.3)
    ref = engine()
    ref.load_weights(weights)
    r_ref = ref.forward(image(1), sel)
    g_ref = ref.backward(r_ref, cross_entropy(r_ref.logits, 7)[1])

    alloc = FakeAllocator()
    ip = FakeEngineIP(alloc)
    pynq = PynqBackend(words=EngineDriver.required_words(TINY), overlay=ip, allocate=alloc)
    model = engine(pynq)
    model.load_weights(weights)
    r = model.forward(image(1), sel)
    g = model.backward(r, cross_entropy(r.logits, 7)[1])
    np.testing.assert_array_equal(r.logits, r_ref.logits)
    for k in g_ref:
        np.testing.assert_array_equal(g[k], g_ref[k])
    assert r.macs == r_ref.macs
    # registers: opcode at its declared offset before every start, addresses split low/high
    ctrl = engine_spec.register("ctrl")["offset"]
    starts = [i for i, (off, v) in enumerate(ip.writes) if off == ctrl and v & 1]
    assert len(starts) == model.driver.counters.calls
    first = dict(ip.writes[: starts[0]])
    assert first[engine_spec.register("opcode")["offset"]] == engine_spec.opcode("PATCH_EMBED_FWD")
    assert first[engine_spec.register("n_tokens")["offset"]] == 17
    wts = engine_spec.register("wts_addr")["offset"]
    assert first[wts] | (first[wts + 4] << 32) == alloc.buffers[0].device_address
    assert all(b.flushed and b.invalidated for b in alloc.buffers[1:])  # per region: tests/host/test_backends.py


def test_pynq_timeout_is_a_clear_error():
    class Stuck:
        def write(self, off, v):
            pass

        def read(self, off):
            return 0

    backend = PynqBackend(
        words={"wts": 8, "act": 8, "grd": 8, "aux": 8}, overlay=Stuck(), allocate=FakeAllocator(), timeout_s=0.05
    )
    with pytest.raises(TimeoutError, match="ap_done"):
        backend.call("GELU_FWD", n_tokens=1, dim=1)


def relative_error(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))


# Documented bounds (docs/host.md): 16-bit fixed point with LUT nonlinearities against float64.
LOSS_ABS = 0.02
LOGITS_ABS = 0.05
GRAD_REL = 0.08  # per tensor, ||g_engine - g_torch|| / ||g_torch||


def test_one_training_step_matches_pytorch_autograd():
    torch.set_num_threads(1)
    weights = perturbed_weights(2)
    model = engine()
    model.load_weights(weights)
    sel = Selection(BLOCKS, token_keep=0.7, attn_keep=0.5)
    img, label = image(2), 4
    for _ in range(3):  # let the driver settle its gradient exponents on this sample
        res = model.forward(img, sel)
        loss, dlogits = cross_entropy(res.logits, label, smoothing=0.1)
        grads = model.backward(res, dlogits)
    # the reference runs the engine's own token selection, in float64 with autograd
    positions, prev = [], np.arange(17)
    for ids, keys in res.stages:
        positions.append((np.searchsorted(prev, ids), keys))
        prev = ids
    t_loss, t_logits, t_grads = torch_vit_loss(weights, TINY, img, label, BLOCKS, positions, label_smoothing=0.1)
    assert abs(loss - t_loss) < LOSS_ABS
    assert np.max(np.abs(res.logits - t_logits)) < LOGITS_ABS
    errors = {k: relative_error(grads[k], t_grads[k]) for k in t_grads}
    worst = max(errors, key=errors.get)
    assert errors[worst] < GRAD_REL, (worst, errors[worst])
    # the step: AdamW on the fp32 master weights from those gradients, as torch.optim.AdamW does it
    params = {k: v.copy() for k, v in weights.items()}
    AdamW(params, lr=1e-3, weight_decay=0.05).step(grads)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in weights.items()}
    decayed = {k for k in tp if weights[k].ndim > 1 and k not in ("cls_token", "pos_embed")}
    decay = [tp[k] for k in tp if k in decayed]
    no_decay = [tp[k] for k in tp if k not in decayed]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-3
    )
    for k in tp:
        tp[k].grad = torch.tensor(grads[k])
    opt.step()
    for k in tp:
        np.testing.assert_allclose(params[k], tp[k].detach().numpy(), rtol=1e-5, atol=1e-6)


def test_recorded_masks_are_replayed_exactly():
    """Selections recorded by one run (as a bundle stores them) drive the engine's gathers and lists."""
    weights = perturbed_weights(4)
    recorder = engine()
    recorder.load_weights(weights)
    first = recorder.forward(image(4), Selection(BLOCKS, token_keep=0.6, attn_keep=0.4))
    recorded = {k: (ids, keys) for k, (ids, keys) in enumerate(first.stages)}
    replay = engine()
    replay.load_weights(perturbed_weights(5))  # other weights would choose other tokens online
    res = replay.forward(image(4), Selection(BLOCKS, recorded=recorded))
    for (a_ids, a_keys), (b_ids, b_keys) in zip(first.stages, res.stages):
        np.testing.assert_array_equal(a_ids, b_ids)
        assert (a_keys is None and b_keys is None) or np.array_equal(a_keys, b_keys)
    online = replay.forward(image(4), Selection(BLOCKS, token_keep=0.6, attn_keep=0.4))
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(online.stages, first.stages))
