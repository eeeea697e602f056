"""Shared set-up of the bounded-simulation and synthesis-branch tests: engine_builds.py importable."""

import sys
from pathlib import Path

import model  # noqa: F401  (CPU shim before timm; sim.golden imports timm)

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
