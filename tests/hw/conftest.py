"""Shared fixtures of the engine tests: one C-sim backend per session (the build is cached)."""

import pytest

from model.torchvision_compat import ensure_torchvision_importable  # noqa: E402

ensure_torchvision_importable()  # the CPU torchvision shim, before timm is imported


@pytest.fixture(scope="session")
def engine():
    from host.backends.csim import CsimBackend

    return CsimBackend(words={"wts": 1 << 21, "act": 1 << 21, "grd": 1 << 21, "aux": 1 << 18})
