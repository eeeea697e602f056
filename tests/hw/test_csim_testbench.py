"""The C-sim test bench (the HLS csim program) runs golden cases from files and its outputs score
within the bounds: the `make csim` path end to end, on a small set of cases."""

import json
import subprocess

from host import engine_spec as es
from sim import csim, golden


def test_testbench_runs_golden_files(tmp_path):
    cases = [golden.linear_case(), golden.block_case("onion_tiny", keep_ratio=0.8, r_a=0.3, sparse=True, seed=51)]
    index = [golden.write_case(c, tmp_path) for c in cases]
    (tmp_path / "manifest.txt").write_text("".join(f"{e['dir']}\n" for e in index))
    (tmp_path / "index.json").write_text(json.dumps(dict(cases=index)))
    exe = csim.build_testbench()
    out = subprocess.run([str(exe), str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    rows, calls = csim.score_outputs(tmp_path)
    assert len(rows) == sum(len(c.compares) for c in cases)
    assert all(csim.within_bounds(r) for r in rows)
    assert [c["status"] for c in calls] == [0] * len(calls) and all(c["macs"] > 0 for c in calls)


def test_testbench_reports_a_rejected_call(tmp_path):
    case = golden.linear_case()
    case.calls[0]["in_dim"] = 10**6  # outside the limits: BAD_IN_DIM
    entry = golden.write_case(case, tmp_path)
    (tmp_path / "manifest.txt").write_text(entry["dir"] + "\n")
    out = subprocess.run([str(csim.build_testbench()), str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 1 and f"status {es.status_code('BAD_IN_DIM')}" in out.stderr
