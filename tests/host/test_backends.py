"""Backend selection: auto falls back to csim without a board; pynq off the board fails clearly."""
import importlib.util

import pytest

from host.backends import open_backend, resolve_kind
from host.backends.base import EngineBackend
from host.backends.pynq_backend import PynqBackend
from host.engine_driver import EngineDriver

from host_fixtures import TINY


@pytest.mark.skipif(importlib.util.find_spec("pynq") is not None, reason="pynq installed here")
def test_auto_picks_csim_without_a_board_and_pynq_explains():
    assert resolve_kind("auto") == "csim"
    with pytest.raises(ImportError, match="--backend csim"):
        PynqBackend(words={"wts": 8, "act": 8, "grd": 8, "aux": 8})


def test_open_backend_gives_the_common_interface():
    backend = open_backend("csim", EngineDriver.required_words(TINY))
    assert isinstance(backend, EngineBackend) and backend.kind == "csim"
    with pytest.raises(ValueError, match="backend"):
        resolve_kind("gpu")
