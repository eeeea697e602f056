"""The engine contract's path has one definition per language: host.engine_spec.SPEC_PATH for
Python (hw/gen/spec.py and these tests import it) and SPEC in hw/Makefile for the Xilinx flow,
which passes it to every Tcl script (they have no copy of their own)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from host.engine_spec import SPEC_PATH
from hw.gen import spec as gen_spec

from .conftest import REPO, SCRIPTS_DIR


@pytest.mark.skipif(shutil.which("make") is None, reason="GNU make not installed")
def test_makefile_spec_is_the_python_spec_path():
    out = subprocess.run(
        ["make", "-s", "-C", str(REPO / "hw"), "--eval=print-spec: ; @echo $(SPEC)", "print-spec"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).resolve() == SPEC_PATH.resolve()
    assert gen_spec.SPEC_JSON == SPEC_PATH


@pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh not installed")
def test_tcl_reads_the_spec_only_where_it_is_passed(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "ONION_SPEC"}
    script = tmp_path / "spec_path.tcl"
    script.write_text(f"source {SCRIPTS_DIR / 'onion_common.tcl'}\nputs [::onion::spec_path]\n")
    bare = subprocess.run(["tclsh", str(script)], capture_output=True, text=True, env=env, timeout=20)
    assert bare.returncode != 0 and "ONION_SPEC is not set" in bare.stderr
    given = subprocess.run(
        ["tclsh", str(script)], capture_output=True, text=True, timeout=20, env={**env, "ONION_SPEC": str(SPEC_PATH)}
    )
    assert given.returncode == 0 and Path(given.stdout.strip()) == SPEC_PATH
