"""C-sim training speed: onion_tiny (32x32 digits, 12 blocks) forward + backward + AdamW per sample
through host/trainer.py on the csim backend, the engine's GEMM built two ways side by side in one run:

  streaming  -DONION_STREAMING_GEMM: the synthesis branch's plain loops (gemm_model's order)
  packed     the default C-sim build: hw/include/onion/gemm_csim_kernel.h (register-blocked doubles)

Both must end with bit-identical weights (checked here). For each: CPU seconds per training sample
split into the engine's C++ (time inside the library calls) and the host's Python/numpy, at the
demo's settings (dense warm-up, then Tri-Level/0.7), and the epoch time it implies. CPU time
(time.thread_time), not wall time: the machine is shared.

Then the engine lanes (host/engine_lanes.py, the trainer's default of 2): the same two lanes run one
after another (the board's order) and on one thread each (C-sim), wall time per sample side by side,
weights bit-identical (checked here). Wall time needs free cores: the load average is printed with it.
Writes docs/bench/csim_train.md (+ .json).

    .venv/bin/python -m bench csim_train [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT_MD = REPO / "docs" / "bench" / "csim_train.md"
MODEL = "onion_tiny"
PHASES = {"dense (R_T = R_A = 1)": (1.0, 1.0), "Tri-Level/0.7 (R_T 0.7, R_A 0.3)": (0.7, 0.3)}


def build_libraries() -> dict[str, Path]:
    from host import engine_spec
    from host.backends.csim import build_library
    from sim.cxx import compile_cxx

    sources = [REPO / s for s in engine_spec.load_spec()["csim_build"]["sources"]]
    return {
        "streaming": compile_cxx(
            sources, "onion_engine_streaming", shared=True, extra_flags=["-DONION_STREAMING_GEMM"]
        ),
        "packed": build_library(),
    }


def one_epoch_trainer(model: object, samples: int, token_keep: float, attn_keep: float, lanes: int = 1) -> object:
    """A Trainer of one epoch of `samples` onion_tiny digits at fixed keep ratios (no keep warm-up, no
    evaluation), batch 8, from seed-0 weights: what every row of this benchmark times."""
    from host.digits import load_digits_split
    from host.model_init import init_weights
    from host.trainer import Trainer, TrainSettings

    cfg = model.cfg
    settings = TrainSettings(
        epochs=1,
        batch=8,
        selector_blocks=[3, 6, 9],
        token_keep=token_keep,
        attn_keep=attn_keep,
        keep_warmup_start=0.0,
        keep_warmup_end=0.0,
        max_samples_per_epoch=samples,
        eval_samples=0,
        engine_lanes=lanes,
    )
    data = load_digits_split(cfg["img_size"])
    return Trainer(model, cfg, init_weights(cfg, 0), data, settings, progress=False, log=lambda *_: None)


def measure(lib: Path, samples: int, token_keep: float, attn_keep: float) -> dict:
    from host.backends.csim import CsimBackend
    from host.engine_driver import EngineDriver
    from host.engine_model import EngineViT
    from host.model_configs import get_config

    cfg = get_config(MODEL)
    backend = CsimBackend(words=EngineDriver.required_words(cfg), lib_path=lib)
    trainer = one_epoch_trainer(EngineViT(EngineDriver(backend, cfg)), samples, token_keep, attn_keep)
    engine_s = [0.0]
    entry = backend._entry

    def timed(*args: object) -> int:
        start = time.thread_time()
        status = entry(*args)
        engine_s[0] += time.thread_time() - start
        return status

    backend._entry = timed
    start_cpu, start_wall = time.thread_time(), time.perf_counter()
    trainer.train_epoch()
    cpu, wall = time.thread_time() - start_cpu, time.perf_counter() - start_wall
    return {
        "samples": samples,
        "cpu_ms": 1e3 * cpu / samples,
        "engine_ms": 1e3 * engine_s[0] / samples,
        "host_ms": 1e3 * (cpu - engine_s[0]) / samples,
        "wall_ms": 1e3 * wall / samples,
        "weights": trainer.master,
    }


def measure_lanes(parallel: bool, samples: int, token_keep: float, attn_keep: float, lanes: int = 2) -> dict:
    """Wall time per sample of `lanes` engine lanes, in turn or one thread each."""
    from host.engine_lanes import EngineLanes
    from host.model_configs import get_config

    model = EngineLanes.open("csim", get_config(MODEL), lanes, parallel)
    trainer = one_epoch_trainer(model, samples, token_keep, attn_keep, lanes)
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    trainer.train_epoch()
    cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
    model.close()
    return {
        "samples": samples,
        "wall_ms": 1e3 * wall / samples,
        "cpu_ms": 1e3 * cpu / samples,
        "weights": trainer.master,
    }


def lane_rows(samples: int) -> list[dict]:
    rows = []
    for phase, (r_t, r_a) in PHASES.items():
        load = os.getloadavg()[0]
        results = {how: measure_lanes(how == "one thread each", samples, r_t, r_a) for how in LANE_MODES}
        a, b = (results[how]["weights"] for how in LANE_MODES)
        same = all(np.array_equal(a[k], b[k]) for k in a)
        for how, r in results.items():
            r.pop("weights")
            rows.append(dict(phase=phase, lanes=how, bit_identical=same, load_before=load, **r))
        ratio = results[LANE_MODES[0]]["wall_ms"] / results[LANE_MODES[1]]["wall_ms"]
        print(
            f"{phase}: 2 lanes in turn {results[LANE_MODES[0]]['wall_ms']:.1f} ms/sample, one thread each "
            f"{results[LANE_MODES[1]]['wall_ms']:.1f} ms/sample ({ratio:.2f}x wall), weights bit-identical: {same}",
            flush=True,
        )
    return rows


LANE_MODES = ("in turn (the board's order)", "one thread each")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench csim_train")
    p.add_argument("--quick", action="store_true", help="16 samples per measurement instead of 64")
    args = p.parse_args(argv if argv is not None else [a for a in sys.argv[1:] if a.startswith("--")])
    samples = 16 if args.quick else 64
    libs = build_libraries()
    rows = []
    for phase, (r_t, r_a) in PHASES.items():
        results = {name: measure(lib, samples, r_t, r_a) for name, lib in libs.items()}
        same = all(
            np.array_equal(results["streaming"]["weights"][k], results["packed"]["weights"][k])
            for k in results["packed"]["weights"]
        )
        for name, r in results.items():
            r.pop("weights")
            rows.append(dict(phase=phase, build=name, bit_identical=same, **r))
        ratio = results["streaming"]["cpu_ms"] / results["packed"]["cpu_ms"]
        print(
            f"{phase}: streaming {results['streaming']['cpu_ms']:.1f} ms/sample, packed "
            f"{results['packed']['cpu_ms']:.1f} ms/sample ({ratio:.1f}x), weights bit-identical: {same}",
            flush=True,
        )
    lanes = lane_rows(samples * 2)
    train_examples = round(0.8 * 1437)  # r_e = 0.8 of the digits training split
    lines = [
        f"# C-sim training speed ({MODEL}, digits 32x32, batch 8; {'quick' if args.quick else 'full'} run)",
        "",
        f"`{' '.join(['python -m bench csim_train'] + (['--quick'] if args.quick else []))}` on "
        f"{platform.processor() or platform.machine()}, {samples} training samples per row, CPU time of the one "
        "thread that runs (time.thread_time; the machine is shared, so wall time is not comparable).",
        "",
        "| phase | GEMM build | ms / sample (CPU) | engine C++ | host Python/numpy | epoch of "
        f"{train_examples} samples (CPU) | weights bit-identical |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['phase']} | {r['build']} | {r['cpu_ms']:.1f} | {r['engine_ms']:.1f} | {r['host_ms']:.1f} | "
            f"{r['cpu_ms'] * train_examples / 1e3:.0f} s | {r['bit_identical']} |"
        )
    lines += [
        "",
        "Epoch column: samples x ms/sample, training only (the demo also evaluates 360 test images "
        "per epoch, forward only). Both builds compute the same words; `tests/hw/test_gemm_equivalence.py` "
        "checks the GEMM kernel bit for bit against `gemm_model` on random jobs.",
        "",
        "## Engine lanes on two cores (the packed build)",
        "",
        f"The trainer's 2 engine lanes (host/engine_lanes.py), {samples * 2} samples per row: the board runs them "
        "one after another, C-sim on one thread each. Wall time (it needs free cores: the 1-minute load "
        f"average before each pair is shown; this machine has {os.cpu_count()} CPUs).",
        "",
        f"| phase | lanes run | wall ms / sample | CPU ms / sample (all threads) | epoch of {train_examples} samples "
        "(wall) | load before | weights bit-identical |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in lanes:
        lines.append(
            f"| {r['phase']} | {r['lanes']} | {r['wall_ms']:.1f} | {r['cpu_ms']:.1f} | "
            f"{r['wall_ms'] * train_examples / 1e3:.0f} s | {r['load_before']:.2f} | {r['bit_identical']} |"
        )
    rows += lanes
    OUT_MD.parent.mkdir(parents=True, exist_ok=True)
    OUT_MD.write_text("\n".join(lines) + "\n")
    OUT_MD.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {OUT_MD}")


if __name__ == "__main__":
    main()
