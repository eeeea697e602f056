"""Does example selection help? A study on digits with known redundancy and known hard cases.

Data (built offline from scikit-learn's digits, per seed): the training split's images, half of them
once and the other half as ``--copies`` jittered copies each (one-pixel shifts plus pixel noise: known
redundancy), then ``--noise`` of all training examples relabelled to a random wrong class (known hard
cases). The test set is the clean digits test split. Only the example level runs (R_T = R_A = 1; the
model still reports its last [CLS] attention row, the selector's tie-break).

Policies, at r_e 0.7 and 0.8, every one with the same epochs, optimizer and initial weights:
  dense         every example, every epoch
  static        a random r_e subset, never changed (the README's former baseline)
  random-swap   the paper's Random baseline: the selector's swaps (same times, same amount), random removal
  two-phase     Toneva et al.: count forgetting on all examples for one interval, then remove once
  forgetting    Onion's selector (the paper's rule)
Paired seeds: a seed fixes the data, the initial weights, the initial random subset and the batch order
for every policy, so differences are paired. Reported: mean test top-1, the mean paired difference vs
dense and vs static random with a 95 % t confidence interval, and what each policy's decisions removed.

    python -m bench example_study                   # full: 10 seeds (about 1 h on 2 busy shared cores)
    python -m bench.bench_example_study --quick     # smoke run: 1 seed, tiny data, 2 epochs (seconds)

Writes docs/bench/example_study.{md,json,png} (``--out-dir`` to write elsewhere).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from host.digits import DIGITS_MAX_VALUE, _load_digits, digits_split, upscale  # noqa: E402
from model.example_level import ExampleLevel, SubsetPolicy, SubsetSampler, build_policy  # noqa: E402
from model.factory import create_timm_model  # noqa: E402
from model.tri_level import TriLevelConfig, patch_model  # noqa: E402

POLICIES = ("dense", "static", "random-swap", "two-phase", "forgetting")
# (x_train, y_train, is_redundant, is_noisy, x_test, y_test): image/label tensors, numpy masks
StudyData = tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray, torch.Tensor, torch.Tensor]
_POLICY_FLAG = {"static": "random", "random-swap": "random-swap", "two-phase": "two-phase", "forgetting": "forgetting"}


# -- data ---------------------------------------------------------------------------------------
def build_study_data(seed: int, copies: int, noise: float, img_size: int, base_limit: int | None = None) -> StudyData:
    """(x_train, y_train, is_redundant, is_noisy, x_test, y_test) as tensors / numpy masks."""
    digits = _load_digits()
    images = digits.images / DIGITS_MAX_VALUE
    targets = digits.target.astype(np.int64)
    train_idx, test_idx = digits_split()
    rng = np.random.default_rng([seed, 7])
    base = rng.permutation(train_idx)[:base_limit] if base_limit else rng.permutation(train_idx)
    redundant_base = base[: base.size // 2]
    xs, ys, redundant = (
        [images[base[base.size // 2 :]]],
        [targets[base[base.size // 2 :]]],
        [np.zeros(base.size - base.size // 2, bool)],
    )
    for _ in range(copies):
        shifted = np.stack(
            [np.roll(np.roll(img, rng.integers(-1, 2), 0), rng.integers(-1, 2), 1) for img in images[redundant_base]]
        )
        shifted = np.clip(shifted + rng.normal(0, 0.05, shifted.shape), 0, 1)
        xs.append(shifted)
        ys.append(targets[redundant_base])
        redundant.append(np.ones(redundant_base.size, bool))
    x = np.concatenate(xs)
    clean = np.concatenate(ys)
    redundant = np.concatenate(redundant)
    noisy = rng.random(clean.size) < noise
    y = clean.copy()
    y[noisy] = (clean[noisy] + rng.integers(1, 10, noisy.sum())) % 10  # a wrong class, uniformly
    x_train, x_test = upscale(x, img_size), upscale(images[test_idx], img_size)
    mean, std = x_train.mean(), x_train.std()
    to = lambda a: torch.from_numpy(((a - mean) / std).astype(np.float32))  # noqa: E731
    return to(x_train), torch.from_numpy(y), redundant, noisy, to(x_test), torch.from_numpy(targets[test_idx])


# -- one run ------------------------------------------------------------------------------------
def _policy(name: str, n: int, keep: float, epochs: int, seed: int) -> SubsetPolicy:
    if name == "dense":
        return build_policy("forgetting", n, 1.0, epochs, seed)
    return build_policy(_POLICY_FLAG[name], n, keep, epochs, seed)


def train_one(policy_name: str, keep: float, data: StudyData, seed: int, args: argparse.Namespace) -> dict:
    x_train, y_train, redundant, noisy, x_test, y_test = data
    n = len(y_train)
    torch.manual_seed(seed)
    net = create_timm_model(args.model, drop_path_rate=0.0)
    depth = len(net.blocks)  # R_T = R_A = 1: the last block only reports its [CLS] row (tie-break)
    net = patch_model(net, TriLevelConfig(selector_blocks=(depth - 1,), token_keep=1.0, attn_keep=1.0)).train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.05)
    steps_per_epoch = math.ceil(round(keep * n) / args.batch) if policy_name != "dense" else math.ceil(n / args.batch)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs * steps_per_epoch)
    policy = _policy(policy_name, n, keep, args.epochs, seed)
    level = ExampleLevel(policy, SubsetSampler(policy.subset, seed=seed))
    initial = set(policy.subset.tolist())
    removed_by_decision: list[int] = []
    presented = 0
    for epoch in range(args.epochs):
        level.sampler.set_epoch(epoch)
        order = torch.tensor(list(level.sampler), dtype=torch.int64)
        for start in range(0, order.numel(), args.batch):
            idx = order[start : start + args.batch]
            logits = net(x_train[idx])
            loss = torch.nn.functional.cross_entropy(logits, y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            level.observe(idx, logits, y_train[idx], net.tri_level.last_cls_attention)
            presented += idx.numel()
        before = set(level.subset.tolist())
        level.end_epoch(epoch + 1)
        removed_by_decision += sorted(before - set(level.subset.tolist()))
    if policy_name == "static":
        removed_by_decision = sorted(set(range(n)) - initial)
    net.eval()
    with torch.no_grad():
        correct = sum(
            int((net(x_test[i : i + 512]).argmax(1) == y_test[i : i + 512]).sum()) for i in range(0, len(y_test), 512)
        )
    removed = np.asarray(removed_by_decision, dtype=np.int64)
    final = level.subset
    return dict(
        policy=policy_name,
        keep=keep,
        seed=seed,
        test_top1=correct / len(y_test),
        presented=presented,
        removed=int(removed.size),
        removed_redundant=float(redundant[removed].mean()) if removed.size else None,
        removed_noisy=float(noisy[removed].mean()) if removed.size else None,
        final_noisy=float(noisy[final].mean()),
        final_redundant=float(redundant[final].mean()),
    )


# -- statistics ---------------------------------------------------------------------------------
def paired_ci(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """Mean of a - b and its 95 % t confidence interval (paired by seed)."""
    from scipy import stats

    diff = np.asarray(a) - np.asarray(b)
    mean = float(diff.mean())
    if diff.size < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, diff.size - 1) * diff.std(ddof=1) / math.sqrt(diff.size))
    return mean, mean - half, mean + half


def summarize(runs: list[dict], keeps: list[float], policies: list[str]) -> list[dict]:
    by = {(r["policy"], r["keep"], r["seed"]): r for r in runs}
    seeds = sorted({r["seed"] for r in runs})
    dense = [by[("dense", 1.0, s)]["test_top1"] for s in seeds]
    rows = [
        dict(
            policy="dense",
            keep=1.0,
            mean=statistics.mean(dense),
            accs=dense,
            presented=statistics.mean(by[("dense", 1.0, s)]["presented"] for s in seeds),
        )
    ]
    for keep in keeps:
        static = [by[("static", keep, s)]["test_top1"] for s in seeds] if "static" in policies else None
        for name in policies:
            if name == "dense":
                continue
            group = [by[(name, keep, s)] for s in seeds]
            accs = [r["test_top1"] for r in group]
            row = dict(
                policy=name,
                keep=keep,
                mean=statistics.mean(accs),
                accs=accs,
                presented=statistics.mean(r["presented"] for r in group),
                vs_dense=paired_ci(accs, dense),
                vs_static=paired_ci(accs, static) if static and name != "static" else None,
            )
            for key in ("removed_redundant", "removed_noisy", "final_noisy", "final_redundant"):
                values = [r[key] for r in group if r[key] is not None]
                row[key] = statistics.mean(values) if values else None
            rows.append(row)
    return rows


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def _ci(triple: tuple[float, float, float] | None) -> str:
    if triple is None:
        return "-"
    mean, lo, hi = triple
    return f"{100 * mean:+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}]"


def write_report(result: dict, out_dir: Path) -> str:
    setup, rows = result["setup"], result["rows"]
    dense_presented = rows[0]["presented"]
    lines = [
        f"# Example-level study: does selecting examples help? ({'quick' if setup['quick'] else 'full'} run)",
        "",
        f"`python -m bench example_study` - {setup['model']}, {setup['epochs']} epochs, batch {setup['batch']}, "
        f"AdamW lr {setup['lr']} (cosine), {setup['seeds']} paired seed(s); example level only (R_T = R_A = 1). "
        f"Training set per seed: {setup['n_train']} examples = {setup['base_images']} digits training images, half of them once, the other half "
        f"as {setup['copies']} jittered copies each ({100 * setup['share_redundant']:.1f} % of examples are such copies), "
        f"{100 * setup['noise']:.0f} % of all labels flipped to a wrong class; test: the clean digits test split "
        f"({setup['n_test']} images). Swap interval {setup['interval']} epoch(s) (the paper's 30 of 300, scaled), "
        f"5 % swapped per round, the paper's rounds (5 for r_e 0.8, 7 for 0.7); two-phase counts for one interval "
        f"on all examples. Wall time {setup['wall_s'] / 60:.1f} min on {setup['threads']} torch thread(s), "
        f"torch {setup['torch']}.",
        "",
        "Differences are paired by seed (same data, initial weights, initial subset, batch order): mean and "
        "95 % t confidence interval, in test top-1 points. *removed*: examples the policy's own decisions took out "
        "(the initial random removal for static; the swaps' removals otherwise), share that are jittered copies / "
        "noisy labels (base rates: "
        f"{_pct(setup['share_redundant'])} / {_pct(setup['noise_rate'])}).",
        "",
        "| policy | r_e | test top-1 (mean) | vs dense | vs static random | examples presented | removed: copies | "
        "removed: noisy | final subset: noisy |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['policy']} | {row['keep']} | {100 * row['mean']:.2f} % | "
            f"{_ci(row.get('vs_dense'))} | {_ci(row.get('vs_static'))} | "
            f"{row['presented'] / dense_presented:.3f}x | {_pct(row.get('removed_redundant'))} | "
            f"{_pct(row.get('removed_noisy'))} | {_pct(row.get('final_noisy'))} |"
        )
    lines += [
        "",
        result["verdict"],
        "",
        f"Regime: dense reaches {100 * rows[0]['mean']:.1f} % test top-1 here. Within the CPU budget (2 cores "
        "shared with other jobs) every run is short and far from converged, so this measures early training, "
        "where presenting fewer examples per epoch costs accuracy directly; the paper's converged 300-epoch "
        "regime was not affordable here.",
        "",
        "![paired differences](example_study.png)",
        "",
    ]
    text = "\n".join(lines)
    (out_dir / "example_study.md").write_text(text)
    return text


def verdict(rows: list[dict]) -> str:
    parts = []
    for row in rows:
        if row["policy"] != "forgetting":
            continue
        for key, name in (("vs_static", "static random"), ("vs_dense", "dense")):
            mean, lo, hi = row[key]
            if math.isnan(lo):
                parts.append(
                    f"r_e {row['keep']}: forgetting vs {name} {100 * mean:+.2f} points (one seed: no interval)"
                )
            elif lo > 0:
                parts.append(f"r_e {row['keep']}: forgetting beats {name} ({100 * mean:+.2f} points, CI above 0)")
            elif hi < 0:
                parts.append(
                    f"r_e {row['keep']}: forgetting is worse than {name} ({100 * mean:+.2f} points, CI below 0)"
                )
            else:
                parts.append(
                    f"r_e {row['keep']}: forgetting vs {name}: no significant difference "
                    f"({100 * mean:+.2f} points, CI spans 0)"
                )
    return "Verdict: " + "; ".join(parts) + "."


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["rows"] if r["policy"] != "dense"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, key, title in (
        (axes[0], "vs_dense", "paired difference vs dense"),
        (axes[1], "vs_static", "paired difference vs static random"),
    ):
        labels, means, errs = [], [], []
        for r in rows:
            if r.get(key) is None:
                continue
            mean, lo, hi = r[key]
            labels.append(f"{r['policy']}\nr_e {r['keep']}")
            means.append(100 * mean)
            errs.append(
                [100 * (mean - lo) if not math.isnan(lo) else 0, 100 * (hi - mean) if not math.isnan(hi) else 0]
            )
        ax.axhline(0, color="grey", lw=0.8)
        ax.errorbar(range(len(means)), means, yerr=np.asarray(errs).T if errs else None, fmt="o", capsize=4)
        ax.set_xticks(range(len(labels)), labels, fontsize=7, rotation=45, ha="right")
        ax.set_title(title)
        ax.set_ylabel("test top-1 difference (points), 95 % CI")
    fig.suptitle(
        f"digits with copies + noisy labels, {result['setup']['model']}, {result['setup']['seeds']} paired seeds"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_example_study", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 200 base images, 2 epochs, r_e 0.8")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument(
        "--base-images", type=int, default=800, help="digits training images used (half once, half as --copies copies)"
    )
    parser.add_argument("--seed-start", type=int, default=0, help="first seed (split a study across processes)")
    parser.add_argument(
        "--runs-only",
        type=Path,
        default=None,
        help="write the raw runs to this JSON and stop (merge them with --merge)",
    )
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=None,
        help="report from raw-run JSONs written by --runs-only instead of training",
    )
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--model", default="onion_micro")
    parser.add_argument("--keeps", type=float, nargs="+", default=[0.7, 0.8])
    parser.add_argument(
        "--policies",
        nargs="+",
        default=list(POLICIES),
        choices=POLICIES,
        help="dense is always run (the reference of the paired differences)",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs" / "bench")
    args = parser.parse_args(sys.argv[1:] if argv is None and __name__ == "__main__" else (argv or []))
    if args.quick:
        args.seeds, args.epochs, args.keeps, args.base_images = 1, 2, [0.8], 200
    torch.set_num_threads(args.threads)
    img_size = create_timm_model(args.model).patch_embed.img_size[0]
    start = time.perf_counter()
    runs = []
    if args.merge:
        parts = [json.loads(path.read_text()) for path in args.merge]
        runs = [run for part in parts for run in part["runs"]]
        args.seeds = len({run["seed"] for run in runs})
        start -= max(part["wall_s"] for part in parts)  # the parts ran side by side
    for seed in range(args.seed_start, args.seed_start + (0 if args.merge else args.seeds)):
        data = build_study_data(seed, args.copies, args.noise, img_size, args.base_images)
        jobs = [("dense", 1.0)] + [(p, k) for k in args.keeps for p in args.policies if p != "dense"]
        for name, keep in jobs:
            tick = time.perf_counter()
            run = train_one(name, keep, data, seed, args)
            runs.append(run)
            print(
                f"seed {seed} {name:12s} r_e {keep}: test {100 * run['test_top1']:.2f} %  "
                f"removed copies {_pct(run['removed_redundant'])} noisy {_pct(run['removed_noisy'])}  "
                f"({time.perf_counter() - tick:.0f} s)",
                flush=True,
            )
    if args.runs_only:
        args.runs_only.write_text(json.dumps(dict(runs=runs, wall_s=time.perf_counter() - start)) + "\n")
        return dict(runs=runs)
    x_train, y_train, redundant, noisy, x_test, _ = build_study_data(
        0, args.copies, args.noise, img_size, args.base_images
    )
    rows = summarize(runs, args.keeps, ["dense"] + [p for p in args.policies if p != "dense"])
    flags = ("quick", "seeds", "epochs", "batch", "lr", "copies", "noise", "model", "keeps", "base_images")
    setup = {name: getattr(args, name) for name in flags}
    setup.update(
        n_train=len(y_train),
        n_test=len(x_test),
        share_redundant=float(redundant.mean()),
        noise_rate=float(noisy.mean()),
        threads=args.threads,
        torch=torch.__version__,
        interval=build_policy("forgetting", 100, 0.8, args.epochs, 0).interval,
        wall_s=time.perf_counter() - start,
    )
    result = dict(setup=setup, rows=rows, runs=runs)
    result["verdict"] = verdict(rows)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "example_study.json").write_text(json.dumps(result, indent=1) + "\n")
    plot(result, args.out_dir / "example_study.png")
    print(write_report(result, args.out_dir))
    return result


if __name__ == "__main__":
    main()
