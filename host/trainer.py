"""The board host's training loop: example selector, TA-selection, loss, AdamW, checkpoints, logs.

The model behind it is either the engine (host/engine_model.py on a backend: pynq on the board,
csim off it) or the float twin (host/vit_float.py); both run one sample forward and backward. The engine sums the
weight gradients of a step's `batch` samples itself (int32 accumulators, one read per step); the float
twin returns per-sample gradients summed here. AdamW updates the fp32 master weights from the sum, and
the re-quantised weights are written back to the model after every step.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from host import schedules
from host.atomic_io import atomic_savez, atomic_write_text
from host.example_selector import ExampleSelector, scaled_interval
from host.loss import cross_entropy
from host.optim import AdamW, clip_grad_norm
from host.ta_selector import Selection
from host.validation import check_fraction, check_keep_ratio, check_lanes, check_non_negative, check_positive

if TYPE_CHECKING:
    from tqdm import tqdm

    from host.engine_model import EngineViT
    from host.vit_float import FloatViT


# Settings added after the first checkpoints: what a checkpoint without them trained with.
SETTINGS_ADDED_LATER = {"clip_grad": None, "engine_lanes": 1}


@dataclass
class TrainSettings:
    epochs: int = 6
    batch: int = 16  # samples per optimizer step (gradient accumulation)
    lr: float = 1e-3
    min_lr: float = 1e-5
    warmup_lr: float = 1e-6
    warmup_epochs: float = 1.0
    weight_decay: float = 0.05
    smoothing: float = 0.1
    clip_grad: float | None = None  # max global L2 norm of a step's mean gradient (timm's --clip-grad)
    engine_lanes: int = 1  # engine contexts a step's samples are dealt to (host/engine_lanes.py)
    token_keep: float = 0.7
    attn_keep: float = 0.3
    example_keep: float = 0.8
    keep_warmup_start: float = schedules.DEFAULT_KEEP_START
    keep_warmup_end: float = schedules.DEFAULT_KEEP_END
    selector_blocks: list = field(default_factory=lambda: [1, 2, 3])
    example_interval: int | None = None  # epochs; default: the paper's 30 of 300, scaled
    example_swap: int | None = None
    seed: int = 0
    masks: str = "online"  # online | recorded
    max_samples_per_epoch: int | None = None  # cut epochs short (tests)
    eval_samples: int | None = None

    def validate(self) -> None:
        for name in ("token_keep", "attn_keep", "example_keep"):
            check_keep_ratio(name, getattr(self, name))
        for name in ("epochs", "batch", "lr"):
            check_positive(name, getattr(self, name))
        for name in ("min_lr", "warmup_lr", "warmup_epochs", "weight_decay"):
            check_non_negative(name, getattr(self, name))
        if self.clip_grad is not None:
            check_positive("clip_grad", self.clip_grad)
        check_lanes(self.engine_lanes)
        for name in ("smoothing", "keep_warmup_start", "keep_warmup_end"):
            check_fraction(name, getattr(self, name))
        if self.keep_warmup_start > self.keep_warmup_end:
            raise ValueError(
                f"keep_warmup_start={self.keep_warmup_start:g} is after keep_warmup_end={self.keep_warmup_end:g}"
            )
        for name in ("example_interval", "example_swap", "max_samples_per_epoch", "eval_samples"):
            value = getattr(self, name)
            if value is not None and value < (0 if name == "eval_samples" else 1):
                raise ValueError(f"{name}={value}: must be {'>= 0' if name == 'eval_samples' else 'positive'}")
        if self.masks not in ("online", "recorded"):
            raise ValueError(f"masks: expected online or recorded, got {self.masks!r}")

    def interval(self) -> int:
        if self.example_interval:
            return int(self.example_interval)
        return scaled_interval(self.epochs)


@dataclass
class _StepItem:
    position: int  # in the epoch's order
    index: int  # training example
    keep_t: float
    keep_a: float


@dataclass
class _SampleOutcome:
    loss: float
    correct: bool
    macs: int
    saturations: int
    cls_attn_var: float


class Trainer:
    """Runs epochs of batch-1 forward/backward on `model` with fp32 master weights."""

    def __init__(
        self,
        model: EngineViT | FloatViT,
        config: dict,
        weights: dict,
        data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        settings: TrainSettings,
        run_dir: Path | None = None,
        recorded_masks: dict | None = None,
        latency: Callable[[object, int], dict] | None = None,
        progress: bool = True,
        log: Callable[[str], None] = print,
        run_meta: dict | None = None,
    ):
        settings.validate()
        # an engine model sums a step's weight gradients itself (int32 accumulators, one read per
        # step); other models (the float twin) return per-sample gradients, summed here
        self._on_engine = hasattr(model, "begin_grad_step")
        lanes = len(getattr(model, "lanes", [model]))
        if self._on_engine and lanes != settings.engine_lanes:
            raise ValueError(f"engine_lanes={settings.engine_lanes}: the model has {lanes} lane(s)")
        self.model, self.config, self.s = model, config, settings
        self.x_train, self.y_train, self.x_test, self.y_test = data
        self.master = {k: np.array(v, dtype=np.float32) for k, v in weights.items()}
        self.opt = AdamW(self.master, lr=settings.lr, weight_decay=settings.weight_decay)
        self.selector = ExampleSelector(
            len(self.y_train), settings.example_keep, settings.interval(), settings.example_swap, seed=settings.seed
        )
        self.run_dir = Path(run_dir) if run_dir else None
        if self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.recorded = recorded_masks
        self.latency = latency  # callable(epoch_counters) -> dict, or None
        self.progress = progress
        self.log = log
        self.epoch = 0  # epochs completed
        self.history: list[dict] = []
        self.run_meta = dict(run_meta or {})  # the CLI's settings, stored in every checkpoint
        self._bar = None  # one progress bar over the whole run (fit)
        self._grads_acc: dict | None = None  # the step's summed per-sample gradients (float twin)
        if settings.masks == "recorded":
            self._check_recorded()
        self.model.load_weights(self.master)

    # ---------------------------------------------------------------------------------------
    def _check_recorded(self) -> None:
        if not self.recorded or "sample_index" not in self.recorded:
            raise ValueError("masks=recorded: the bundle holds no recorded masks with sample_index")
        self._recorded_row = {int(i): r for r, i in enumerate(self.recorded["sample_index"])}
        # checked before training starts: any training example may enter the subset
        missing = sorted(set(range(len(self.y_train))) - set(self._recorded_row))
        if missing:
            raise ValueError(
                f"masks=recorded: no recorded masks for {len(missing)} training examples "
                f"(e.g. {missing[:5]}); record every training example or use --masks online"
            )
        for k in range(len(self.s.selector_blocks)):
            if f"tokens_s{k}" not in self.recorded:
                raise ValueError(f"masks=recorded: the bundle has no tokens_s{k} for selector stage {k}")

    def _selection(self, index: int | None, token_keep: float, attn_keep: float) -> Selection:
        if self.s.masks == "recorded" and index is not None:
            row = self._recorded_row.get(int(index))
            if row is None:
                raise ValueError(f"masks=recorded: no recorded masks for training example {index}")
            stages = {}
            for k in range(len(self.s.selector_blocks)):
                tokens = self.recorded[f"tokens_s{k}"][row].astype(np.int64)
                keys = self.recorded.get(f"keys_s{k}")
                stages[k] = (tokens, None if keys is None else keys[row].astype(np.int64))
            return Selection(self.s.selector_blocks, recorded=stages)
        return Selection(self.s.selector_blocks, token_keep, attn_keep)

    def _order(self, epoch: int) -> np.ndarray:
        subset = self.selector.subset
        order = subset[np.random.default_rng([self.s.seed, 7, epoch]).permutation(subset.size)]
        if self.s.max_samples_per_epoch:
            order = order[: self.s.max_samples_per_epoch]
        return order

    def _total_samples(self) -> int:
        n = self.selector.subset.size
        if self.s.max_samples_per_epoch:
            n = min(n, self.s.max_samples_per_epoch)
        return n * self.s.epochs

    # ---------------------------------------------------------------------------------------
    def train_epoch(self) -> dict:
        s, epoch = self.s, self.epoch
        order = self._order(epoch)
        total = self._total_samples()
        done_before = len(order) * epoch
        if hasattr(self.model, "reset_counters"):
            self.model.reset_counters()
        start = time.perf_counter()
        loss_sum, correct, macs, sats = 0.0, 0, 0, 0
        rec_idx, rec_ok, rec_var = [], [], []
        keep_t = keep_a = 1.0
        bar = self._bar
        for first in range(0, len(order), s.batch):
            items = []
            for j in range(first, min(first + s.batch, len(order))):
                progress = (done_before + j) / total
                keep_t = schedules.keep_ratio(s.token_keep, progress, s.keep_warmup_start, s.keep_warmup_end)
                keep_a = schedules.keep_ratio(s.attn_keep, progress, s.keep_warmup_start, s.keep_warmup_end)
                items.append(_StepItem(j, int(order[j]), keep_t, keep_a))
            self._grads_acc = None
            if self._on_engine:
                self.model.begin_grad_step(len(items))
            for item, out in zip(items, self._map_samples(self._train_sample, items)):
                macs += out.macs
                sats += out.saturations
                loss_sum += out.loss
                correct += out.correct
                rec_idx.append(item.index), rec_ok.append(out.correct), rec_var.append(out.cls_attn_var)
            grads_acc = self.model.read_accumulated_grads() if self._on_engine else self._grads_acc
            done = first + len(items)
            self._step(grads_acc, len(items), (done_before + done) / total)
            if bar is not None:
                bar.update(len(items))
                if first // s.batch % max(1, 50 // s.batch) == 0:
                    bar.set_postfix(
                        epoch=f"{epoch + 1}/{s.epochs}",
                        loss=f"{loss_sum / done:.3f}",
                        acc=f"{correct / done:.3f}",
                    )
        self.selector.record(rec_idx, rec_ok, rec_var)
        swapped = self.selector.end_epoch(epoch + 1)
        train_time = time.perf_counter() - start
        fabric = self.latency(self.model, len(order)) if self.latency is not None else {}  # training only
        test_acc = self.evaluate()
        self.epoch += 1
        entry = dict(
            epoch=self.epoch,
            loss=loss_sum / len(order),
            train_acc=correct / len(order),
            test_acc=test_acc,
            examples_used=len(order),
            subset_size=int(self.selector.subset.size),
            example_swap=bool(swapped),
            token_keep=keep_t,
            attn_keep=keep_a,
            lr=self._lr((done_before + len(order)) / total),
            macs=int(macs),
            saturations=int(sats),
            wall_s=train_time,
            **fabric,
        )
        self.history.append(entry)
        return entry

    def _map_samples(self, fn: Callable, items: list) -> list:
        """fn(model, item) for each item: over the lanes of an EngineLanes model, else in order."""
        mapper = getattr(self.model, "map_samples", None)
        return mapper(fn, items) if mapper is not None else [fn(self.model, item) for item in items]

    def _train_sample(self, model: object, item: _StepItem) -> _SampleOutcome:
        """One training sample on `model` (the model or one of its lanes): forward, loss, backward."""
        res = model.forward(self.x_train[item.index], self._selection(item.index, item.keep_t, item.keep_a))
        label = int(self.y_train[item.index])
        loss, dlogits = cross_entropy(res.logits, label, self.s.smoothing)
        if not np.isfinite(loss):  # stop before a NaN step reaches the weights or a checkpoint
            raise FloatingPointError(
                f"training loss is {loss} at epoch {self.epoch + 1}, sample {item.position + 1} "
                f"(example {item.index}); no checkpoint was written for this epoch "
                f"(lower --lr?)"
            )
        if self._on_engine:
            model.backward(res, dlogits, accumulate=True)  # summed on the engine
        else:  # per-sample gradients (the float twin: one model, samples in order), summed here
            grads = model.backward(res, dlogits)
            if self._grads_acc is None:
                self._grads_acc = {k: np.array(v, dtype=np.float64) for k, v in grads.items()}
            else:
                for k, v in grads.items():
                    self._grads_acc[k] += v
        return _SampleOutcome(
            loss=float(loss),
            correct=int(np.argmax(res.logits)) == label,
            macs=res.macs,
            saturations=res.saturations,
            cls_attn_var=res.cls_attn_var,
        )

    def _lr(self, progress: float) -> float:
        s = self.s
        return schedules.cosine_lr(s.lr, progress, s.warmup_epochs / s.epochs, s.min_lr, s.warmup_lr)

    def _step(self, grads_acc: dict, n: int, progress: float) -> None:
        grads = {k: (v / n).astype(np.float32) for k, v in grads_acc.items()}
        if self.s.clip_grad is not None:
            clip_grad_norm(grads, self.s.clip_grad)
        self.opt.step(grads, lr=self._lr(progress))
        self.model.load_weights(self.master)  # re-quantised on the engine side

    def evaluate(self) -> float:
        n = len(self.y_test) if self.s.eval_samples is None else min(self.s.eval_samples, len(self.y_test))
        if n == 0:
            return float("nan")
        return sum(self._map_samples(self._test_sample, list(range(n)))) / n

    def _test_sample(self, model: object, i: int) -> bool:
        res = model.forward(self.x_test[i], self._selection(None, self.s.token_keep, self.s.attn_keep), train=False)
        return int(np.argmax(res.logits)) == int(self.y_test[i])

    # ---------------------------------------------------------------------------------------
    def checkpoint(self) -> None:
        if self.run_dir is None:
            return
        arrays = {
            "epoch": np.int64(self.epoch),
            "run_meta": np.frombuffer(json.dumps(self.run_meta).encode(), dtype=np.uint8),
            "history": np.frombuffer(json.dumps(self.history).encode(), dtype=np.uint8),
            "settings": np.frombuffer(json.dumps(asdict(self.s)).encode(), dtype=np.uint8),
        }
        arrays.update({"w:" + k: v for k, v in self.master.items()})
        arrays.update({"opt:" + k: v for k, v in self.opt.state_dict().items()})
        arrays.update({"sel:" + k: np.asarray(v) for k, v in self.selector.state_dict().items()})
        if hasattr(self.model, "state_dict"):
            arrays.update({"model:" + k: v for k, v in self.model.state_dict().items()})
        atomic_savez(self.run_dir / "checkpoint.npz", arrays)

    def resume(self, path: Path) -> None:
        with np.load(path, allow_pickle=False) as z:
            state = {k: z[k] for k in z.files}
        saved = {**SETTINGS_ADDED_LATER, **json.loads(state["settings"].tobytes().decode())}
        for key in ("epochs", "seed", "engine_lanes"):
            if saved[key] != getattr(self.s, key):
                raise ValueError(
                    f"resume: checkpoint was for {key}={saved[key]}, this run has {key}={getattr(self.s, key)}"
                )
        for k in self.master:
            self.master[k][...] = state["w:" + k]
        self.opt.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("opt:")})
        self.selector.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("sel:")})
        if hasattr(self.model, "load_state_dict"):
            self.model.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("model:")})
        self.epoch = int(state["epoch"])
        self.history = json.loads(state["history"].tobytes().decode())
        self.model.load_weights(self.master)

    def fit(self) -> list[dict]:
        if self.progress and self.epoch < self.s.epochs:
            per_epoch = self._total_samples() // self.s.epochs
            self._bar = _progress_bar(per_epoch * self.s.epochs, per_epoch * self.epoch, "training")
        try:
            while self.epoch < self.s.epochs:
                entry = self.train_epoch()
                (self._bar.write if self._bar is not None else self.log)(format_entry(entry))
                self.write_logs()
                self.checkpoint()
        finally:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
        return self.history

    def write_logs(self) -> None:
        """log.jsonl and log.csv, rewritten whole from the history (a resumed run stays consistent)."""
        if self.run_dir is None:
            return
        atomic_write_text(self.run_dir / "log.jsonl", "".join(json.dumps(e) + "\n" for e in self.history))
        atomic_write_text(self.run_dir / "log.csv", history_csv(self.history))


def format_entry(e: dict) -> str:
    text = (
        f"epoch {e['epoch']:3d}  loss {e['loss']:.4f}  train {100 * e['train_acc']:5.1f}%  "
        f"test {100 * e['test_acc']:5.1f}%  examples {e['examples_used']}  "
        f"R_T {e['token_keep']:.3f} R_A {e['attn_keep']:.3f}  MACs {e['macs'] / 1e6:.1f}M  "
        f"sat {e['saturations']}  wall {e['wall_s']:.1f}s"
    )
    if "fabric_s" in e:
        text += f"  fabric {e['fabric_s'] * 1e3:.1f} ms ({e['fabric_label']})"
    return text


def history_csv(history: list[dict]) -> str:
    import csv
    import io

    columns: list[str] = []
    for entry in history:
        columns += [k for k in entry if k not in columns]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return text.getvalue()


def _progress_bar(total: int, done: int, desc: str) -> tqdm:
    """One bar for the whole run: its ETA is the run's, not the epoch's."""
    from tqdm import tqdm

    return tqdm(total=total, initial=done, desc=desc, unit="sample", mininterval=1.0, dynamic_ncols=True)
