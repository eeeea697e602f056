"""host/bundle.py: round trip and every malformed bundle rejected with the field named."""

import json
import zipfile

import numpy as np
import pytest
from host_fixtures import TINY

from host import engine_spec
from host.bundle import BUNDLE_VERSION, BundleError, expected_shapes, read_bundle, write_bundle
from host.model_init import init_weights

SPARSITY = {"selector_blocks": [1, 2], "token_keep": 0.7, "attn_keep": 0.5, "example_keep": 0.8}
N_TOKENS = 17


def good_masks(n_samples=3):
    rng = np.random.default_rng(0)
    t0 = np.stack(
        [
            np.concatenate([[0], np.sort(rng.choice(np.arange(1, N_TOKENS), 12, replace=False))])
            for _ in range(n_samples)
        ]
    ).astype(np.int16)
    t1 = np.stack([np.concatenate([[0], np.sort(rng.choice(row[1:], 9, replace=False))]) for row in t0])
    keys0 = np.stack(
        [
            np.stack(
                [np.concatenate([[0], np.sort(rng.choice(np.arange(1, 13), 4, replace=False))]) for _ in range(12)]
            )
            for _ in range(n_samples)
        ]
    ).astype(np.int32)
    return {
        "tokens_s0": t0,
        "tokens_s1": t1.astype(np.int16),
        "keys_s0": keys0,
        "sample_index": np.array([5, 2, 9], dtype=np.int64)[:n_samples],
    }


def write(tmp_path, name="b.npz", **over):
    args = dict(
        config=TINY, weights=init_weights(TINY, 0), sparsity=SPARSITY, masks=good_masks(), meta={"note": "test"}
    )
    args.update(over)
    path = tmp_path / name
    write_bundle(path, **args)
    return path


def test_round_trip_quantizes_with_the_declared_format(tmp_path):
    weights = init_weights(TINY, 0)
    b = read_bundle(write(tmp_path, weights=weights))
    assert b.version == BUNDLE_VERSION and b.config == TINY and b.sparsity == SPARSITY
    frac = engine_spec.format_frac("weight")
    assert set(b.formats.values()) == {frac}
    for name, w in weights.items():
        np.testing.assert_array_equal(b.weights[name], w)
        # independent quantizer: round half up, saturate to int16
        expected = np.clip(np.floor(w.astype(np.float64) * 2.0**frac + 0.5), -32768, 32767).astype(np.int16)
        np.testing.assert_array_equal(b.weights_q[name], expected)
    np.testing.assert_array_equal(b.masks["tokens_s0"], good_masks()["tokens_s0"])
    assert b.meta["note"] == "test"


def test_expected_shapes_match_timm_state_dict():
    from model.torchvision_compat import ensure_torchvision_importable  # noqa: E402

    ensure_torchvision_importable()  # the CPU torchvision shim, before timm is imported
    import timm

    net = timm.create_model("vit_tiny_patch16_224", pretrained=False, **TINY)  # TINY: the shape kwargs timm takes
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == expected_shapes(TINY)


def test_no_pickles_and_atomic(tmp_path):
    path = write(tmp_path)
    with np.load(path, allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)
    assert [p.name for p in tmp_path.iterdir()] == ["b.npz"]  # no temp file left behind


def test_truncated_file(tmp_path):
    path = write(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="corrupt or truncated"):
        read_bundle(path)


def test_corrupt_member(tmp_path):
    path = write(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError):
        read_bundle(path)


def _rewrite(path, **replace):
    with np.load(path, allow_pickle=False) as z:
        members = {k: z[k] for k in z.files}
    members.update(replace)
    for k in [k for k, v in replace.items() if v is None]:
        del members[k]
    with open(path, "wb") as f:
        np.savez(f, **members)


def test_wrong_version(tmp_path):
    path = write(tmp_path)
    _rewrite(path, __version__=np.array([BUNDLE_VERSION + 1]))
    with pytest.raises(BundleError, match="version"):
        read_bundle(path)


@pytest.mark.parametrize(
    "name,shape", [("blocks.1.attn.qkv.weight", (96, 31)), ("pos_embed", (1, 16, 32)), ("head.bias", (11,))]
)
def test_wrong_shapes(tmp_path, name, shape):
    weights = init_weights(TINY, 0)
    weights[name] = np.zeros(shape, np.float32)
    with pytest.raises(BundleError, match=name.replace(".", r"\.")):
        write(tmp_path, weights=weights)
    # and a file that bypassed the writer
    path = write(tmp_path)
    _rewrite(path, **{"weight:" + name: np.zeros(shape, np.float32)})
    with pytest.raises(BundleError, match=name.replace(".", r"\.")):
        read_bundle(path)


def test_missing_and_extra_weights(tmp_path):
    weights = init_weights(TINY, 0)
    del weights["norm.bias"]
    with pytest.raises(BundleError, match="missing.*norm.bias"):
        write(tmp_path, weights=weights)
    weights = init_weights(TINY, 0)
    weights["fc_norm.weight"] = np.ones(32, np.float32)
    with pytest.raises(BundleError, match="unexpected.*fc_norm"):
        write(tmp_path, weights=weights)


def test_nan_weights(tmp_path):
    weights = init_weights(TINY, 0)
    weights["blocks.0.mlp.fc1.weight"][3, 4] = np.nan
    with pytest.raises(BundleError, match="blocks.0.mlp.fc1.weight.*non-finite"):
        write(tmp_path, weights=weights)
    path = write(tmp_path)
    _rewrite(path, **{"weight:blocks.0.mlp.fc1.weight": weights["blocks.0.mlp.fc1.weight"]})
    with pytest.raises(BundleError, match="non-finite"):
        read_bundle(path)


def test_quantized_words_must_match(tmp_path):
    path = write(tmp_path)
    w = init_weights(TINY, 0)["head.weight"]
    q, _ = engine_spec.quantize(w, engine_spec.format_frac("weight"))
    q[0, 0] += 1
    _rewrite(path, **{"qweight:head.weight": q})
    with pytest.raises(BundleError, match="weights_q.head.weight"):
        read_bundle(path)


def test_formats_must_match_declaration(tmp_path):
    path = write(tmp_path)
    with np.load(path) as z:
        formats = json.loads(z["__formats__"].tobytes())
    formats["head.weight"] = engine_spec.format_frac("weight") - 1
    _rewrite(path, __formats__=np.frombuffer(json.dumps(formats).encode(), np.uint8))
    with pytest.raises(BundleError, match="formats.head.weight"):
        read_bundle(path)


@pytest.mark.parametrize(
    "key,value",
    [
        ("token_keep", 0.0),
        ("token_keep", 1.5),
        ("attn_keep", -0.1),
        ("example_keep", float("nan")),
        ("example_keep", 2),
    ],
)
def test_keep_ratios_outside_unit_interval(tmp_path, key, value):
    with pytest.raises(BundleError, match=f"sparsity.{key}"):
        write(tmp_path, sparsity=dict(SPARSITY, **{key: value}))


def test_selector_blocks_out_of_range(tmp_path):
    with pytest.raises(BundleError, match="selector_blocks"):
        write(tmp_path, sparsity=dict(SPARSITY, selector_blocks=[1, 3]), masks=None)
    with pytest.raises(BundleError, match="selector_blocks"):
        write(tmp_path, sparsity=dict(SPARSITY, selector_blocks=[2, 1]), masks=None)


def test_mask_indices_out_of_range(tmp_path):
    masks = good_masks()
    masks["tokens_s0"][1, -1] = N_TOKENS
    with pytest.raises(BundleError, match="tokens_s0.*out of range"):
        write(tmp_path, masks=masks)
    masks = good_masks()
    masks["keys_s0"][0, 0, -1] = 13
    with pytest.raises(BundleError, match="keys_s0.*out of range"):
        write(tmp_path, masks=masks)


def test_mask_duplicates_and_order(tmp_path):
    masks = good_masks()
    masks["tokens_s0"][0, 2] = masks["tokens_s0"][0, 1]
    with pytest.raises(BundleError, match="tokens_s0.*duplicate"):
        write(tmp_path, masks=masks)
    masks = good_masks()
    masks["tokens_s0"][0, 1:] = masks["tokens_s0"][0, 1:][::-1]
    with pytest.raises(BundleError, match="tokens_s0.*sorted"):
        write(tmp_path, masks=masks)
    masks = good_masks()
    masks["keys_s0"][2, 3, 2] = masks["keys_s0"][2, 3, 1]
    with pytest.raises(BundleError, match="keys_s0.*duplicate"):
        write(tmp_path, masks=masks)
    masks = good_masks()
    masks["sample_index"][1] = masks["sample_index"][0]
    with pytest.raises(BundleError, match="sample_index.*duplicate"):
        write(tmp_path, masks=masks)


def test_mask_stage_must_be_a_subset_of_the_previous(tmp_path):
    masks = good_masks()
    dropped = sorted(set(range(1, N_TOKENS)) - set(masks["tokens_s0"][0].tolist()))[0]
    row = masks["tokens_s1"][0].copy()
    row[1] = dropped
    masks["tokens_s1"][0] = np.sort(row)
    with pytest.raises(BundleError, match="tokens_s1.*previous stage"):
        write(tmp_path, masks=masks)


def test_masked_file_rejected_on_read(tmp_path):
    path = write(tmp_path)
    bad = good_masks()["tokens_s0"].copy()
    bad[0, 0] = 1
    _rewrite(path, **{"mask:tokens_s0": bad})
    with pytest.raises(BundleError, match="CLS"):
        read_bundle(path)


def test_not_a_zip(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"not a bundle at all")
    with pytest.raises(BundleError, match="corrupt"):
        read_bundle(path)
    assert not zipfile.is_zipfile(path)
