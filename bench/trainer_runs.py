"""What the model.train benchmarks share: a variant's settings as trainer flags, and the results
written as docs/bench/<stem>.json (the numbers) and <stem>.md (the table, also printed)."""

from __future__ import annotations

import json

from model.train import REPO_ROOT

OUT_DIR = REPO_ROOT / "docs" / "bench"


def train_flags(settings: dict[str, object]) -> list[str]:
    """{"example_keep": 0.8, "tri_level": True} -> ["--example-keep", "0.8", "--tri-level", "true"]."""
    flags = []
    for key, value in settings.items():
        flags += [f"--{key.replace('_', '-')}", str(value).lower() if isinstance(value, bool) else str(value)]
    return flags


def write_results(stem: str, result: dict, lines: list[str]) -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (OUT_DIR / f"{stem}.md").write_text("\n".join(lines))
    print("\n".join(lines))
