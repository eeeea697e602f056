"""Shared fixtures of the engine tests: one C-sim backend per session (the build is cached)."""
import pytest

import model  # noqa: F401  (CPU shim before timm; sim.golden imports timm)


@pytest.fixture(scope="session")
def engine():
    from host.backends.csim import CsimBackend

    return CsimBackend(words={"wts": 1 << 21, "act": 1 << 21, "grd": 1 << 21, "aux": 1 << 18})
