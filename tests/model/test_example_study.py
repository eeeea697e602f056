"""Smoke run of the example-level study (`python -m bench.bench_example_study --quick`): every policy
trains, the report is written, and the costs follow from the policies' rules."""

import json

import pytest

from bench.bench_example_study import POLICIES, build_study_data, main, paired_ci


def test_study_data_has_the_known_redundancy_and_noise():
    x, y, redundant, noisy, x_test, y_test = build_study_data(3, copies=2, noise=0.2, img_size=16, base_limit=100)
    assert len(y) == 50 + 2 * 50 and redundant.sum() == 100 and x.shape == (150, 1, 16, 16)
    assert 0.05 < noisy.mean() < 0.4 and len(y_test) == 360
    clean_y = build_study_data(3, copies=2, noise=0.0, img_size=16, base_limit=100)[1]
    assert (y[noisy] != clean_y[noisy]).all() and (y[~noisy] == clean_y[~noisy]).all()


def test_paired_ci_is_a_t_interval():
    mean, lo, hi = paired_ci([0.5, 0.6, 0.7], [0.4, 0.4, 0.4])
    assert mean == pytest.approx(0.2) and lo < 0.2 < hi
    assert hi - mean == pytest.approx(4.303 * 0.1 / 3**0.5, rel=1e-3)


def test_quick_study_runs_every_policy(tmp_path):
    result = main(["--quick", "--out-dir", str(tmp_path)])
    rows = {(r["policy"], r["keep"]): r for r in result["rows"]}
    assert set(p for p, _ in rows) == set(POLICIES)
    dense = rows[("dense", 1.0)]["presented"]
    for name in ("static", "random-swap", "forgetting"):
        assert rows[(name, 0.8)]["presented"] == pytest.approx(0.8 * dense, rel=0.01)
    assert rows[("two-phase", 0.8)]["presented"] > 0.8 * dense  # the counting epochs see everything
    for name in ("static", "random-swap", "two-phase", "forgetting"):
        assert 0.0 <= rows[(name, 0.8)]["removed_noisy"] <= 1.0
    assert (tmp_path / "example_study.png").stat().st_size > 0
    assert "| forgetting | 0.8 |" in (tmp_path / "example_study.md").read_text()
    assert json.loads((tmp_path / "example_study.json").read_text())["setup"]["quick"] is True
