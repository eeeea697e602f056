"""The TA-Selector against a brute-force reference built from timm modules and textbook attention."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from model.factory import build_model
from model.tri_level import TriLevelConfig, patch_model
from tests.model._vit_reference import attention_probs, reference_forward, tiny_vit


def _pair(cfg, seed=0, dtype=torch.float64, **overrides):
    torch.manual_seed(seed)
    dense = tiny_vit(**overrides).to(dtype).eval()
    sparse = patch_model(copy.deepcopy(dense), cfg).eval()
    return dense, sparse


def _images(batch=3, seed=1, dtype=torch.float64):
    return torch.randn(batch, 1, 16, 16, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_keep_everything_equals_the_dense_timm_model():
    dense, sparse = _pair(TriLevelConfig(selector_blocks=(1, 2), token_keep=1.0, attn_keep=1.0))
    x = _images()
    torch.testing.assert_close(sparse(x), dense(x))
    assert list(sparse.state_dict()) == list(dense.state_dict())


@pytest.mark.parametrize("impl", ["mask", "gather"])
@pytest.mark.parametrize(
    "token_keep,attn_keep,dense_selectors", [(0.7, 1.0, False), (0.5, 0.4, False), (1.0, 0.3, False), (0.5, 0.4, True)]
)
def test_matches_brute_force_reference(impl, token_keep, attn_keep, dense_selectors):
    selectors = (1, 2)
    cfg = TriLevelConfig(
        selector_blocks=selectors,
        token_keep=token_keep,
        attn_keep=attn_keep,
        attn_impl=impl,
        dense_selectors=dense_selectors,
    )
    dense, sparse = _pair(cfg)
    x = _images()
    sparse.tri_level.record_selection = True
    logits = sparse(x)
    ref_logits, ref_tokens, ref_keys = reference_forward(dense, x, selectors, token_keep, attn_keep, dense_selectors)
    torch.testing.assert_close(logits, ref_logits)
    stages = sparse.tri_level.last_selection
    assert [s["block"] for s in stages] == list(selectors)
    for stage_i, stage in enumerate(stages):
        for b in range(x.shape[0]):
            assert stage["tokens"][b].tolist() == ref_tokens[b][stage_i]
            expected_keys = ref_keys[b][stage_i]
            if expected_keys is None:
                assert stage["keys"] is None
            else:
                assert stage["keys"][b].tolist() == expected_keys


def test_tokens_are_gathered_away_sorted_and_cls_first():
    cfg = TriLevelConfig(selector_blocks=(1,), token_keep=0.5)
    _, sparse = _pair(cfg)
    seen = []
    sparse.blocks[2].norm1.register_forward_hook(lambda m, i, o: seen.append(i[0].shape))
    sparse.blocks[1].mlp.register_forward_hook(lambda m, i, o: seen.append(i[0].shape))
    sparse.tri_level.record_selection = True
    sparse(_images())
    assert seen == [torch.Size([3, 9, 16]), torch.Size([3, 9, 16])]  # 16 patches -> 8 + [CLS]
    tokens = sparse.tri_level.last_selection[0]["tokens"]
    assert (tokens[:, 0] == 0).all()
    assert (tokens[:, 1:].diff(dim=1) > 0).all()


def test_mask_and_gather_agree_forward_and_backward():
    outs = []
    for impl in ("mask", "gather"):
        cfg = TriLevelConfig(selector_blocks=(0, 2), token_keep=0.6, attn_keep=0.3, attn_impl=impl)
        _, sparse = _pair(cfg, seed=3)
        x = _images(seed=4).requires_grad_(True)
        y = sparse(x)
        y.square().sum().backward()
        outs.append((y.detach(), x.grad, [p.grad for p in sparse.parameters()]))
    torch.testing.assert_close(outs[0][0], outs[1][0])
    torch.testing.assert_close(outs[0][1], outs[1][1])
    for g_mask, g_gather in zip(outs[0][2], outs[1][2]):
        torch.testing.assert_close(g_mask, g_gather)


@pytest.mark.parametrize("impl", ["mask", "gather"])
def test_gradcheck_through_token_and_key_gathers(impl):
    torch.manual_seed(0)
    net = tiny_vit(img_size=8, patch_size=2, embed_dim=8, depth=3, num_classes=3).double().eval()
    patch_model(net, TriLevelConfig(selector_blocks=(0, 1), token_keep=0.5, attn_keep=0.5, attn_impl=impl))
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp: net(inp), (x,), eps=1e-6, atol=1e-5, fast_mode=True)


def test_last_cls_attention_is_the_last_blocks_row():
    cfg = TriLevelConfig(selector_blocks=(1,), token_keep=0.5)
    dense, sparse = _pair(cfg)
    sparse.train()  # no dropout configured; train mode fills last_cls_attention
    x = _images()
    sparse.tri_level.record_selection = True
    sparse(x)
    row = sparse.tri_level.last_cls_attention
    kept = sparse.tri_level.last_selection[0]["tokens"]
    assert row.shape == (3, kept.shape[1] - 1) and not row.requires_grad
    # Reference: run the dense model's blocks on the kept tokens, take the last block's CLS row.
    for b in range(3):
        t = dense._pos_embed(dense.patch_embed(x[b : b + 1]))
        for i, blk in enumerate(dense.blocks):
            if i == len(dense.blocks) - 1:
                expected = attention_probs(blk.attn, blk.norm1(t)).mean(1)[0, 0, 1:]
            t = t + blk.attn(blk.norm1(t))
            if i == 1:
                t = t[:, kept[b]]
            t = t + blk.mlp(blk.norm2(t))
        torch.testing.assert_close(row[b], expected)


def test_warmup_schedule_and_eval_uses_final_ratios():
    cfg = TriLevelConfig(selector_blocks=(1,), token_keep=0.5, attn_keep=0.3, warmup_start=0.1, warmup_end=0.5)
    _, sparse = _pair(cfg)
    ctl = sparse.tri_level
    expected = {0: 1.0, 9: 1.0, 10: 1.0, 30: 0.75, 50: 0.5, 99: 0.5}
    for it, token_keep in expected.items():
        ctl.set_progress(it, 100)
        assert ctl.current_keep()[0] == pytest.approx(token_keep)
    ctl.set_progress(20, 100)  # the authors' formula: target + (1 - target) * (1 + cos(pi * t)) / 2
    want = 0.3 + 0.7 * 0.5 * (1 + math.cos(math.pi * 0.25))
    assert ctl.current_keep()[1] == pytest.approx(want)
    ctl.set_progress(0, 100)
    ctl.record_selection = True
    sparse.train()
    sparse(_images())
    assert ctl.last_selection[0]["tokens"].shape[1] == 17 and ctl.last_selection[0]["keys"] is None
    sparse.eval()
    sparse(_images())
    assert ctl.last_selection[0]["tokens"].shape[1] == 9 and ctl.last_selection[0]["keys"].shape == (3, 8, 4)


@pytest.mark.parametrize(
    "overrides,field",
    [
        (dict(class_token=False, global_pool="avg"), "class token"),
        (dict(reg_tokens=2), "register"),
        (dict(patch_drop_rate=0.2), "patch_drop"),
    ],
)
def test_rejects_models_it_cannot_patch(overrides, field):
    with pytest.raises(ValueError, match=field):
        patch_model(tiny_vit(**overrides), TriLevelConfig(selector_blocks=(1,)))


@pytest.mark.parametrize(
    "kwargs,field",
    [
        (dict(selector_blocks=(2, 1)), "selector_blocks"),
        (dict(token_keep=0.0), "token_keep"),
        (dict(attn_keep=1.5), "attn_keep"),
        (dict(attn_impl="sparse"), "attn_impl"),
        (dict(warmup_start=0.6, warmup_end=0.5), "start/end"),
    ],
)
def test_config_errors_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        TriLevelConfig(**kwargs)


def test_selector_out_of_range_is_rejected():
    with pytest.raises(ValueError, match="selector_blocks"):
        patch_model(tiny_vit(), TriLevelConfig(selector_blocks=(4,)))


@pytest.mark.parametrize("name,embed_dim,heads", [("onion_tiny", 64, 4), ("deit_tiny_patch16_224", 192, 3)])
def test_build_model_uses_the_config_table(name, embed_dim, heads):
    net = build_model(name, tri_level=TriLevelConfig(), drop_path_rate=0.1, num_classes=None)
    assert net.embed_dim == embed_dim and net.blocks[0].attn.num_heads == heads
    assert net.tri_level.config.selector_blocks == (3, 6, 9)
    clone = copy.deepcopy(net)  # trainers deep-copy models (EMA); the patch must survive
    assert type(clone) is type(net) and clone.tri_level is not net.tri_level


def test_rankings_agree_with_the_host_selector_including_ties():
    from host.ta_selector import select_stage
    from model.ta_selector import kept_count, select_keys, select_tokens

    gen = torch.Generator().manual_seed(5)
    for _ in range(20):
        attn = torch.randint(0, 4, (13, 13), generator=gen).double()  # many ties
        host = select_stage(attn.numpy(), 0.5, 0.4)
        tokens = select_tokens(attn[None, 0, 1:], kept_count(0.5, 12))[0]
        assert tokens.tolist() == host.keep.tolist()
        kept_map = attn[tokens][:, tokens]
        keys = select_keys(kept_map[None], kept_count(0.4, len(tokens) - 1))[0]
        assert keys.tolist() == host.keys.tolist()


# -- the authors' attention level (ZLKong/Tri-Level-ViT models/models_attn_tok.py), re-implemented ----
def authors_stages(net, x, selectors, token_ratio, attn_ratio, eps=1e-6, exactly_k=False):
    """The authors' forward on a timm ViT's own modules: every block's softmax is their masked one,
    (exp(s - max) * mask + eps/N) / (sum + eps); a selector keeps topk(ceil(r N)) patches by the
    head-averaged [CLS] row and marks, per kept query, the keys whose head-averaged (masked) attention
    is >= the ceil(R_A rN)-th largest. `exactly_k`: instead mark exactly that many keys (ties, i.e.
    masked-out keys, to the lower original position): their rule minus the dense-row quirk.
    Returns per selector (original patch ids, [B, rN, rN] mask, [B, rN, rN] ranked map)."""
    batch = x.shape[0]
    t = net._pos_embed(net.patch_embed(x))
    n1 = t.shape[1]
    ids = torch.arange(n1 - 1).expand(batch, -1)
    attn_mask = torch.ones(batch, n1, n1, dtype=t.dtype)
    stages = []
    for i, blk in enumerate(net.blocks):
        a, h = blk.attn, blk.norm1(t)
        n = h.shape[1]
        q, k, v = a.qkv(h).reshape(batch, n, 3, a.num_heads, a.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        scores = (q @ k.transpose(-2, -1)) * a.scale
        probs = (scores - scores.max(-1, keepdim=True)[0]).exp() * attn_mask.unsqueeze(1)
        probs = (probs + eps / n) / (probs.sum(-1, keepdim=True) + eps)
        t = t + a.proj((probs @ v).transpose(1, 2).reshape(batch, n, -1))
        if i in selectors:
            cls_attn, patch_attn = probs[:, :, 0, 1:].mean(1), probs[:, :, 1:, 1:].mean(1)
            n_keep = math.ceil((n - 1) * token_ratio)
            idx = cls_attn.topk(n_keep, dim=1)[1]
            t = torch.cat([t[:, :1], t[:, 1:].gather(1, idx[..., None].expand(-1, -1, t.shape[-1]))], dim=1)
            ids = ids.gather(1, idx)
            kept = patch_attn.gather(1, idx[..., None].expand(-1, -1, n - 1))
            kept = kept.gather(2, idx[:, None, :].expand(-1, n_keep, -1))
            n_keys = math.ceil(n_keep * attn_ratio)
            if exactly_k:
                by_position = ids.argsort(dim=1)  # columns in original order
                cols = by_position[:, None, :].expand(-1, n_keep, -1)
                ranked = kept.gather(2, cols).sort(dim=2, descending=True, stable=True).indices[..., :n_keys]
                mask_p = torch.zeros_like(kept, dtype=torch.bool).scatter(2, cols.gather(2, ranked), True)
            else:
                top = kept.topk(n_keys, dim=2)[0]
                mask_p = kept >= top[:, :, -1:]
            attn_mask = torch.ones(batch, n_keep + 1, n_keep + 1, dtype=t.dtype)
            attn_mask[:, 1:, 1:] = mask_p.to(t.dtype)
            stages.append((ids.clone(), mask_p.clone(), kept.clone()))
        t = t + blk.mlp(blk.norm2(t))
    return stages


SELECTORS, R_T, R_A = (1, 2, 3), 0.7, 0.3


def _peaked_pair():
    """A float64 ViT with sharpened attention (q and k weights x2: no near-ties) and Onion's twin."""
    torch.manual_seed(11)
    net = tiny_vit(img_size=32, patch_size=4, embed_dim=32, depth=4, num_heads=2).double().eval()
    with torch.no_grad():
        for blk in net.blocks:
            blk.attn.qkv.weight[:64] *= 2.0
    x = torch.randn(4, 1, 32, 32, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    onion = patch_model(
        copy.deepcopy(net), TriLevelConfig(selector_blocks=SELECTORS, token_keep=R_T, attn_keep=R_A)
    ).eval()
    onion.tri_level.record_selection = True
    onion(x)
    return net, x, onion.tri_level.last_selection


def _lists(stage, b):
    """Onion's stage as {query original id: set of patch-key original ids}."""
    tokens = stage["tokens"][b]
    return {int(tokens[qi]): {int(tokens[p]) for p in stage["keys"][b, qi - 1, 1:]} for qi in range(1, tokens.numel())}


def test_key_lists_at_every_selector_equal_the_authors_rule_without_its_quirk():
    net, x, onion = _peaked_pair()
    authors = authors_stages(net, x, SELECTORS, R_T, R_A, exactly_k=True)
    for stage, (ids, mask_p, _) in zip(onion, authors):
        for b in range(x.shape[0]):
            assert stage["tokens"][b, 1:].tolist() == sorted((ids[b] + 1).tolist())
            theirs = {
                int(ids[b, r]) + 1: {int(ids[b, j]) + 1 for j in torch.nonzero(mask_p[b, r]).flatten()}
                for r in range(ids.shape[1])
            }
            assert _lists(stage, b) == theirs
    assert len(onion) == 3


def test_key_lists_agree_with_the_authors_masked_rule_minus_dense_rows():
    """The authors' own rule: the first two selectors see identical inputs. Onion's lists equal the
    authors' masks on every row they keep at k keys; on rows their `>=` threshold turns dense (fewer
    than k surviving keys) Onion keeps exactly k: the surviving keys plus the lowest positions."""
    net, x, onion = _peaked_pair()
    authors = authors_stages(net, x, SELECTORS, R_T, R_A)
    dense_rows = equal_rows = 0
    for stage, (ids, mask_p, values) in list(zip(onion, authors))[:2]:
        for b in range(x.shape[0]):
            tokens = stage["tokens"][b]
            assert tokens[1:].tolist() == sorted((ids[b] + 1).tolist())  # the same kept tokens
            order = {int(tok): j for j, tok in enumerate(ids[b] + 1)}  # original id -> authors' row
            k = stage["keys"].shape[2] - 1
            for qi in range(1, tokens.numel()):
                ours = {int(tokens[p]) for p in stage["keys"][b, qi - 1, 1:]}
                row = order[int(tokens[qi])]
                theirs = {int(ids[b, j]) + 1 for j in torch.nonzero(mask_p[b, row]).flatten()}
                if len(theirs) == k:
                    assert ours == theirs
                    equal_rows += 1
                else:  # the `>=` quirk
                    assert mask_p[b, row].all() and len(ours) == k
                    kth = values[b, row].topk(k)[0][-1]
                    surviving = {int(ids[b, j]) + 1 for j in torch.nonzero(values[b, row] > kth).flatten()}
                    assert surviving <= ours
                    dense_rows += 1
    assert equal_rows > 0 and dense_rows > 0  # both cases occur, so both checks ran


def test_next_selector_attends_over_the_previous_lists_by_default():
    from model.block_plan import plan_blocks

    paper = plan_blocks(4, 64, (1, 2, 3), 0.7, 0.3, last_cls_row=True)
    dense = plan_blocks(4, 64, (1, 2, 3), 0.7, 0.3, last_cls_row=True, dense_selectors=True)
    assert [p.keys for p in paper] == [None, None, paper[1].next_keys, paper[2].next_keys]
    assert [p.keys for p in dense] == [None, None, None, None]
    assert paper[2].keys == math.ceil(0.3 * 45) + 1 and paper[3].keys == math.ceil(0.3 * 32) + 1
