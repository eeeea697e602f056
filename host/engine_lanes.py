"""Engine lanes: a step's samples dealt to independent engine contexts.

A lane is one EngineViT on its own driver: its own memory regions, its own gradient exponents (the
per-op frac tables the driver adapts from one sample to the next) and its own int32 weight-gradient
accumulators. Sample j of a step goes to lane j % L; each lane runs its samples in order, and the
step's gradient is the sum of the lanes' accumulators, each dequantized at its own lane's fracs
(sized for the whole step's images) and added in float64, which is exact.

The number of lanes belongs to the training recipe (``TrainSettings.engine_lanes``), not to where it
runs: the board's one engine runs the lanes one after another, C-sim runs each lane on its own
thread with its own library instance (ctypes releases the GIL during an engine call). Both give
the same bits (tests/host/test_engine_lanes.py); on two CPU cores C-sim trains ~1.6x faster
(``python -m bench csim_train``). One lane is exactly the plain EngineViT.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

import numpy as np

from host.engine_counters import Counters
from host.engine_driver import EngineDriver
from host.engine_model import EngineViT
from host.validation import check_lanes

Item = TypeVar("Item")
Result = TypeVar("Result")


class EngineLanes:
    """The trainer's model over L lanes (the EngineViT interface plus ``map_samples``)."""

    def __init__(self, lanes: Sequence[EngineViT], parallel: bool):
        if not lanes:
            raise ValueError("EngineLanes: no lanes")
        self.lanes = list(lanes)
        self.cfg = self.lanes[0].cfg
        self._pool = ThreadPoolExecutor(len(self.lanes), "engine-lane") if parallel and len(self.lanes) > 1 else None

    @classmethod
    def open(cls, kind: str, config: dict, lanes: int, parallel: bool | None = None) -> EngineLanes:
        """L lanes on backend `kind`. host.backends.open_lane_backends says whether they can run at
        once; parallel=False runs them in turn anyway (the board's order, for comparisons)."""
        from host.backends import open_lane_backends

        backends, can = open_lane_backends(kind, EngineDriver.required_words(config), check_lanes(lanes))
        return cls([EngineViT(EngineDriver(be, config)) for be in backends], can and parallel is not False)

    @property
    def kind(self) -> str:
        return self.lanes[0].driver.be.kind

    @property
    def drivers(self) -> list[EngineDriver]:
        return [lane.driver for lane in self.lanes]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    # -- running samples ----------------------------------------------------------------------
    def map_samples(self, fn: Callable[[EngineViT, Item], Result], items: Sequence[Item]) -> list[Result]:
        """fn(lane, item) for every item, item j on lane j % L, each lane's items in order;
        the results in item order. An exception in any lane is raised here once all lanes stopped."""
        n = len(self.lanes)
        dealt = [list(range(k, len(items), n)) for k in range(n)]

        errors = np.geterr()  # np.errstate is per thread: the lanes run under the caller's

        def run_lane(k: int) -> list[Result]:
            with np.errstate(**errors):
                return [fn(self.lanes[k], items[j]) for j in dealt[k]]

        if self._pool is None:
            per_lane = [run_lane(k) for k in range(n)]
        else:
            futures = [self._pool.submit(run_lane, k) for k in range(n) if dealt[k]]
            wait(futures)  # no lane is still running when an error (or Ctrl-C's unwinding) leaves here
            per_lane = [f.result() for f in futures]
        out: list[Result] = [None] * len(items)  # type: ignore[list-item]
        for k, results in enumerate(per_lane):
            for j, r in zip(dealt[k], results):
                out[j] = r
        return out

    # -- the EngineViT interface ----------------------------------------------------------------
    def load_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Quantized once (lane 0), the words copied to the other lanes."""
        first = self.lanes[0]
        first.load_weights(weights)
        for lane in self.lanes[1:]:
            lane.driver.copy_weights(first.driver)
            lane.weight_saturations = first.weight_saturations

    @property
    def weight_saturations(self) -> int:
        return self.lanes[0].weight_saturations  # the same weights on every lane

    def forward(self, *args: object, **kwargs: object) -> object:
        """A single sample outside a step (reports, plots): lane 0."""
        return self.lanes[0].forward(*args, **kwargs)

    def backward(self, *args: object, **kwargs: object) -> dict[str, np.ndarray]:
        return self.lanes[0].backward(*args, **kwargs)

    def begin_grad_step(self, n_images: int) -> None:
        for lane in self.lanes:  # each lane's accumulator fracs sized for the whole step's images
            lane.begin_grad_step(n_images)

    def read_accumulated_grads(self) -> dict[str, np.ndarray]:
        """The step's summed weight gradients: each lane that ran a sample read once, then added."""
        used = [lane for lane in self.lanes if lane.driver.step_images > 0]
        if not used:
            raise RuntimeError("read_accumulated_grads: no backward(accumulate=True) since begin_grad_step")
        total = used[0].read_accumulated_grads()
        for lane in used[1:]:
            for name, g in lane.read_accumulated_grads().items():
                total[name] += g
        return total

    def reset_counters(self) -> list[Counters]:
        return [lane.reset_counters() for lane in self.lanes]

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every lane's gradient exponents; lane 0 under EngineViT's own keys."""
        state = {}
        for k, lane in enumerate(self.lanes):
            state.update({(f"lane{k}/{key}" if k else key): v for key, v in lane.state_dict().items()})
        return state

    def load_state_dict(self, state: dict) -> None:
        for k, lane in enumerate(self.lanes):
            prefix = f"lane{k}/"
            mine = {
                key[len(prefix) :] if k else key: v
                for key, v in state.items()
                if (key.startswith(prefix) if k else not key.startswith("lane"))
            }
            lane.load_state_dict(mine)
