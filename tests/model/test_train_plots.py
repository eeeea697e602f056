"""model.plots: accuracy-vs-cost figures and the kept-patch overlay."""

import json

import numpy as np

from model.plots import kept_patch_mask, load_history, main, plot_accuracy_vs_cost


def test_kept_patch_mask_marks_exactly_the_kept_patches():
    tokens = np.array([[0, 5, 2, 16], [0, 1, 3, 4]])  # original positions; 0 is [CLS]
    mask = kept_patch_mask(tokens, n_patch=16)
    expected = np.zeros((2, 16), bool)
    expected[0, [4, 1, 15]] = True
    expected[1, [0, 2, 3]] = True
    assert np.array_equal(mask, expected)


def test_cost_plot_and_overlay_write_pngs(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    rows = [dict(epoch=e, test_top1=0.5 + 0.1 * e, cum_macs=1e9 * e, cum_time_s=2.0 * e) for e in (1, 2, 3)]
    (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert load_history(run) == rows
    out = plot_accuracy_vs_cost({"a": rows}, tmp_path / "cost.png", x="time")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    rng = np.random.default_rng(0)
    selections = tmp_path / "selections.npz"
    np.savez(
        selections,
        images=rng.normal(size=(2, 1, 32, 32)).astype(np.float32),
        n_patch=np.int64(64),
        block3_tokens=np.stack([np.concatenate([[0], rng.permutation(64)[:45] + 1]) for _ in range(2)]),
    )
    assert main(["overlay", str(selections), "--out", str(tmp_path / "overlay.png")]) == 0
    assert main(["cost", str(run), "--out", str(tmp_path / "cost2.png"), "--labels", "tri"]) == 0
    assert (tmp_path / "overlay.png").stat().st_size > 0 and (tmp_path / "cost2.png").stat().st_size > 0
