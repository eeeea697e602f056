"""model.export: the bundle round-trips through host/bundle.py, ONNX matches PyTorch."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from host.bundle import read_bundle
from host.digits import load_digits_split
from model.checkpoint import save_checkpoint
from model.export import main as export_main
from model.factory import build_model
from model.tri_level import TriLevelConfig
from tests.model._vit_reference import reference_forward


@pytest.fixture(scope="module")
def random_export(tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    export_main(
        [
            "--random",
            "--model",
            "onion_tiny",
            "--token-keep",
            "0.6",
            "--attn-keep",
            "0.5",
            "--attn-impl",
            "gather",
            "--seed",
            "3",
            "--out-dir",
            str(out),
            "--record",
            "digits-test",
            "--record-count",
            "6",
        ]
    )
    return out


def test_onnx_graph_prunes_tokens_and_matches_pytorch(random_export):
    import onnx
    import onnxruntime as ort

    report = json.loads((random_export / "export_report.json").read_text())
    assert report["onnx_max_abs_diff"] < 1e-4
    ops = {n.op_type for n in onnx.load(str(random_export / "model.onnx")).graph.node}
    assert "TopK" in ops and ({"Gather", "GatherElements"} & ops)
    # Independent check on real digits with another batch size than the exported example.
    bundle = read_bundle(random_export / "bundle.npz")
    torch.manual_seed(3)
    net = build_model("onion_tiny", tri_level=TriLevelConfig(token_keep=0.6, attn_keep=0.5)).eval()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in bundle.weights.items()})
    images = load_digits_split(32)[2][:5]
    got = ort.InferenceSession(str(random_export / "model.onnx")).run(None, {"image": images})[0]
    np.testing.assert_allclose(got, net(torch.from_numpy(images)).detach().numpy(), atol=1e-4, rtol=0)


def test_bundle_carries_weights_sparsity_and_reference_selections(random_export):
    bundle = read_bundle(random_export / "bundle.npz")
    assert bundle.config["embed_dim"] == 64 and bundle.config["depth"] == 12
    assert bundle.sparsity["selector_blocks"] == [3, 6, 9]
    assert bundle.sparsity["token_keep"] == 0.6 and bundle.sparsity["attn_keep"] == 0.5
    net = build_model("onion_tiny", tri_level=TriLevelConfig(token_keep=1.0)).eval()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in bundle.weights.items()})
    images = torch.from_numpy(load_digits_split(32)[2][:2])
    with torch.no_grad():
        _, tokens, keys = reference_forward(net, images, (3, 6, 9), 0.6, 0.5)
    assert bundle.masks["sample_index"].tolist() == list(range(6))
    for b in range(2):
        for k in range(3):
            assert bundle.masks[f"tokens_s{k}"][b].tolist() == tokens[b][k]
            assert bundle.masks[f"keys_s{k}"][b].tolist() == keys[b][k]


def test_exports_a_trainer_checkpoint(tmp_path):
    torch.manual_seed(0)
    net = build_model("onion_tiny", tri_level=TriLevelConfig(token_keep=0.5))
    args = dict(
        model="onion_tiny",
        tri_level=True,
        selector_blocks=[2, 5],
        token_keep=0.5,
        attn_keep=1.0,
        attn_impl="mask",
        keep_warmup_start=0.1,
        keep_warmup_end=0.2,
    )
    ema = {f"module.{k}": v * 0.5 for k, v in net.state_dict().items()}  # timm ModelEmaV3 naming
    save_checkpoint(tmp_path / "ck.pt", dict(model=net.state_dict(), ema=ema, config=args))
    export_main(["--checkpoint", str(tmp_path / "ck.pt"), "--out-dir", str(tmp_path / "out"), "--no-onnx"])
    export_main(["--checkpoint", str(tmp_path / "ck.pt"), "--out-dir", str(tmp_path / "ema"), "--no-onnx", "--ema"])
    bundle = read_bundle(tmp_path / "out" / "bundle.npz")
    ema_bundle = read_bundle(tmp_path / "ema" / "bundle.npz")
    assert bundle.sparsity["selector_blocks"] == [2, 5] and bundle.sparsity["warmup_end"] == 0.2
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(bundle.weights[name], value.numpy())
        np.testing.assert_array_equal(ema_bundle.weights[name], value.numpy() * 0.5)


def test_checkpoint_without_model_name_is_rejected(tmp_path):
    save_checkpoint(tmp_path / "ck.pt", dict(model={}, config={}))
    with pytest.raises(ValueError, match="naming the model"):
        export_main(["--checkpoint", str(tmp_path / "ck.pt"), "--out-dir", str(tmp_path / "out")])


def test_recording_digits_on_an_rgb_model_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="in_chans"):
        export_main(
            [
                "--random",
                "--model",
                "deit_tiny_patch16_224",
                "--out-dir",
                str(tmp_path),
                "--record",
                "digits-test",
                "--no-onnx",
            ]
        )
