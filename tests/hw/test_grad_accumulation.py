"""Weight-gradient accumulation on the engine (engine_spec.json "grad_accumulation"): backward ops
with GRAD_ACCUMULATE add their int16 parameter gradients into int32 accumulators in aux at a per-tensor
accumulator frac. Checked against the rule re-implemented in numpy (bit for bit), the flag/frac
validation, and, through the host driver, against the per-image float sum and PyTorch autograd."""

import numpy as np
import pytest
import torch

from host import engine_spec as es
from host.backends.csim import CsimBackend
from host.engine_driver import EngineDriver
from host.engine_model import EngineViT
from host.loss import cross_entropy
from host.model_init import init_weights
from host.vit_float import FloatViT, Selection
from sim import golden

ACC, CLEAR = es.flag("GRAD_ACCUMULATE"), es.flag("GRAD_CLEAR")
GRAD_REL = 0.08  # per tensor, ||g_engine - g_float|| / ||g_float||: the host's per-image bound (tests/host)


def acc_rule(acc, words, shift):
    """The engine's rule: acc + round_half_up(word * 2^shift), saturated to int32 (returns acc, sats)."""
    w = words.astype(np.int64)
    term = w << shift if shift >= 0 else (w + (1 << (-shift - 1))) >> (-shift)
    total = acc.astype(np.int64) + term
    sats = int(np.sum((total > 2**31 - 1) | (total < -(2**31))))
    return np.clip(total, -(2**31), 2**31 - 1), sats


def linear_bwd(engine, seed=3):
    """The golden LINEAR_BWD call, with room for the doubled frac and stats tables at the end of aux."""
    case = golden.linear_case(seed=seed)
    golden.run_case_csim(case, engine)
    bwd = dict(case.calls[1])
    count, top = len(es.op_tensors("LINEAR_BWD")), engine.mem["aux"].size
    engine.mem["aux"][top - 64 : top - 64 + count] = engine.mem["aux"][bwd["fracs_off"] : bwd["fracs_off"] + count]
    bwd["fracs_off"], bwd["stats_off"] = top - 64, top - 32
    return bwd


def test_linear_bwd_accumulates_bit_exactly(engine):
    bwd = linear_bwd(engine)
    names = es.op_tensors("LINEAR_BWD")
    count, fr_off, st_off = len(names), bwd["fracs_off"], bwd["stats_off"]
    n_params = bwd["out_dim"] * bwd["in_dim"] + bwd["out_dim"]
    gacc_off = engine.mem["aux"].size - n_params - 128
    base = engine.mem["aux"][fr_off : fr_off + count].copy()
    gw = bwd["gw_off"]
    slices = {"d_w": (0, bwd["out_dim"] * bwd["in_dim"]), "d_b": (bwd["out_dim"] * bwd["in_dim"], n_params)}
    acc_fracs = base + 9
    acc_fracs[names.index("d_b")] = base[names.index("d_b")] - 2  # coarser than the words: rounds
    expect = np.zeros(n_params, dtype=np.int64)
    regs = {k: v for k, v in bwd.items() if k != "op"}
    for image, delta in enumerate((0, 2, -1)):  # each "image" at another word frac
        fracs = base.copy()
        fracs[names.index("d_w")] += delta
        engine.mem["aux"][fr_off : fr_off + count] = fracs
        engine.mem["aux"][fr_off + count : fr_off + 2 * count] = acc_fracs
        engine.call_checked("LINEAR_BWD", **dict(regs, flags=ACC | (CLEAR if image == 0 else 0), gacc_off=gacc_off))
        words = engine.mem["grd"][gw : gw + n_params]
        for t, (lo, hi) in slices.items():
            i = names.index(t)
            prev = np.zeros(hi - lo, np.int64) if image == 0 else expect[lo:hi]
            expect[lo:hi], _ = acc_rule(prev, words[lo:hi], int(acc_fracs[i] - fracs[i]))
        got = engine.mem["aux"][gacc_off : gacc_off + n_params].astype(np.int64)
        np.testing.assert_array_equal(got, expect)
        acc_stats = engine.mem["aux"][st_off + 2 * count : st_off + 4 * count].reshape(-1, 2)
        assert acc_stats[names.index("d_w"), 0] == np.abs(expect[: slices["d_w"][1]]).max()
    assert np.any(expect != 0)


def test_accumulator_saturation_is_counted(engine):
    bwd = linear_bwd(engine, seed=4)
    names = es.op_tensors("LINEAR_BWD")
    count, fr_off, st_off = len(names), bwd["fracs_off"], bwd["stats_off"]
    n_params = bwd["out_dim"] * bwd["in_dim"] + bwd["out_dim"]
    gacc_off = engine.mem["aux"].size - n_params - 128
    fracs = engine.mem["aux"][fr_off : fr_off + count].copy()
    engine.mem["aux"][fr_off + count : fr_off + 2 * count] = es.load_spec()["grad_accumulation"]["frac_max"]
    regs = {k: v for k, v in bwd.items() if k != "op"}
    out = engine.call_checked("LINEAR_BWD", **dict(regs, flags=ACC | CLEAR, gacc_off=gacc_off))
    words = engine.mem["grd"][bwd["gw_off"] : bwd["gw_off"] + n_params]
    shift = es.load_spec()["grad_accumulation"]["frac_max"] - int(fracs[names.index("d_w")])
    _, sats = acc_rule(
        np.zeros(bwd["out_dim"] * bwd["in_dim"], np.int64), words[: bwd["out_dim"] * bwd["in_dim"]], shift
    )
    acc_stats = engine.mem["aux"][st_off + 2 * count : st_off + 4 * count].reshape(-1, 2)
    assert sats > 0 and acc_stats[names.index("d_w"), 1] == sats
    assert out["saturations"] >= sats


def test_accumulation_flags_and_fracs_are_validated(engine):
    bwd = linear_bwd(engine)
    names = es.op_tensors("LINEAR_BWD")
    count, fr_off = len(names), bwd["fracs_off"]
    regs = {k: v for k, v in bwd.items() if k != "op"}
    engine.mem["aux"][fr_off + count : fr_off + 2 * count] = 20
    assert engine.call("LINEAR_BWD", **dict(regs, flags=CLEAR)) == es.status_code("BAD_FLAGS")
    engine.mem["aux"][fr_off + count] = es.load_spec()["grad_accumulation"]["frac_max"] + 1
    gacc_off = engine.mem["aux"].size - 4096 - 128
    assert engine.call("LINEAR_BWD", **dict(regs, flags=ACC, gacc_off=gacc_off)) == es.status_code("BAD_FRAC")


# -- through the host driver -----------------------------------------------------------------
TINY = dict(img_size=16, patch_size=4, in_chans=1, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0, num_classes=10)


def _images(n):
    rng = np.random.default_rng(11)
    return [rng.normal(size=(1, 16, 16)) for _ in range(n)], [int(v) for v in rng.integers(0, 10, n)]


def _weights(seed):
    rng = np.random.default_rng(seed)  # perturbed like the host's autograd test: not the init's zeros
    return {k: (v + rng.normal(0, 0.05, v.shape)).astype(np.float32) for k, v in init_weights(TINY, seed).items()}


def _engine(weights):
    model = EngineViT(EngineDriver(CsimBackend(words=EngineDriver.required_words(TINY)), TINY))
    model.load_weights(weights)
    return model


@pytest.mark.parametrize("n_images", [1, 6])
def test_step_sum_on_the_engine_equals_the_per_image_sum(n_images):
    """Same ops, same words: when every accumulator frac is at least the image's word frac the
    int32 sum is exact, so one read per step equals the host's float64 sum of per-image reads."""
    weights = _weights(5)
    per_image, on_engine = _engine(weights), _engine(weights)
    sel = Selection([1], token_keep=0.7, attn_keep=0.5)
    images, labels = _images(n_images)
    summed = None
    on_engine.begin_grad_step(n_images)
    for img, label in zip(images, labels):
        res = per_image.forward(img, sel)
        g = per_image.backward(res, cross_entropy(res.logits, label)[1])
        summed = (
            {k: v.astype(np.float64) for k, v in g.items()}
            if summed is None
            else {k: summed[k] + v for k, v in g.items()}
        )
        res = on_engine.forward(img, sel)
        assert on_engine.backward(res, cross_entropy(res.logits, label)[1], accumulate=True) == {}
    got = on_engine.read_accumulated_grads()
    assert on_engine.driver.gacc_saturations == 0 and set(got) == set(summed)
    for k in summed:  # float64 holds both sums exactly: equal bit for bit
        np.testing.assert_array_equal(got[k], summed[k], err_msg=k)


def test_step_sum_on_the_engine_tracks_the_float_sum():
    """Against the float64 twin (the host's PyTorch-checked float model): the summed gradient is
    within the per-image bound the engine meets, relative to the summed float gradient."""
    torch.set_num_threads(1)
    weights = _weights(6)
    model, ref = _engine(weights), FloatViT(TINY)
    ref.load_weights(weights)
    sel = Selection([], token_keep=1.0, attn_keep=1.0)
    images, labels = _images(4)
    for img, label in zip(images, labels):  # settle the driver's gradient exponents
        res = model.forward(img, sel)
        model.backward(res, cross_entropy(res.logits, label)[1])
    model.begin_grad_step(len(images))
    float_sum = None
    for img, label in zip(images, labels):
        res = model.forward(img, sel)
        model.backward(res, cross_entropy(res.logits, label)[1], accumulate=True)
        r = ref.forward(img, sel)
        g = ref.backward(r, cross_entropy(r.logits, label)[1])
        float_sum = dict(g) if float_sum is None else {k: float_sum[k] + g[k] for k in g}
    got = model.read_accumulated_grads()
    errors = {k: np.linalg.norm(got[k] - v) / (np.linalg.norm(v) + 1e-12) for k, v in float_sum.items()}
    worst = max(errors, key=errors.get)
    assert errors[worst] < GRAD_REL, (worst, errors[worst])


def test_accumulator_traffic_is_counted_on_aux(engine):
    """The accumulators stream over aux through the engine's burst helpers: against the same call
    without the flag, GRAD_ACCUMULATE adds exactly the accumulators' beats read and written plus the
    accumulator-frac table (read) and the accumulator stats (written); GRAD_CLEAR skips the read.
    Recomputed here from the port width and the regions, independently of the engine."""
    bwd = linear_bwd(engine)
    count = len(es.op_tensors("LINEAR_BWD"))
    n_params = bwd["out_dim"] * bwd["in_dim"] + bwd["out_dim"]
    gacc_off = engine.mem["aux"].size - n_params - 128
    fr_off, st_off = bwd["fracs_off"], bwd["stats_off"]
    engine.mem["aux"][fr_off + count : fr_off + 2 * count] = engine.mem["aux"][fr_off : fr_off + count] + 4
    regs = {k: v for k, v in bwd.items() if k != "op"}
    beat = es.load_spec()["ports"]["aux"]["axi_bits"] // 8

    def span(off_words, n_words):  # bytes of whole beats covering int32 words [off, off + n)
        first, end = off_words * 4 // beat, -(-(off_words + n_words) * 4 // beat)
        return (end - first) * beat

    def chunks():  # the accumulators move in 512-word bursts
        return sum(span(gacc_off + c, min(512, n_params - c)) for c in range(0, n_params, 512))

    plain = engine.call_checked("LINEAR_BWD", **regs)["axi"]["aux"]
    acc = engine.call_checked("LINEAR_BWD", **dict(regs, flags=ACC, gacc_off=gacc_off))["axi"]["aux"]
    clear = engine.call_checked("LINEAR_BWD", **dict(regs, flags=ACC | CLEAR, gacc_off=gacc_off))["axi"]["aux"]
    tables_rd, tables_wr = span(fr_off + count, count), span(st_off + 2 * count, 2 * count)
    assert acc["rd_bytes"] - plain["rd_bytes"] == chunks() + tables_rd
    assert acc["wr_bytes"] - plain["wr_bytes"] == chunks() + tables_wr
    assert clear["rd_bytes"] - plain["rd_bytes"] == tables_rd
    assert clear["wr_bytes"] == acc["wr_bytes"]
    assert acc["rd_bursts"] > plain["rd_bursts"] and acc["wr_bursts"] > plain["wr_bursts"]
