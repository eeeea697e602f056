"""ImageFolder trees (root/train/<class>/*.png, root/val/<class>/*.png), scanned and loaded with
numpy and Pillow only (the board host never imports torch).

The folder rules are torchvision's ImageFolder rules, so `model.train --data-dir` and the host read
the same examples with the same labels: classes are the sorted sub-folder names of train/, a file
counts when its extension is one of IMG_EXTENSIONS (any case), files are sorted by path. Both
trainers call `scan` before training, which opens every image once, so a broken file is reported by
name up front instead of failing mid-epoch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
SPLITS = ("train", "val")
# timm's ImageNet statistics and eval crop, as model/data.py's evaluation transform uses them
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
CROP_PCT = 0.875


def _classes(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def list_split(root: Path, split: str, classes: list[str]) -> list[tuple[Path, int]]:
    samples = []
    for label, name in enumerate(classes):
        folder = root / split / name
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix.lower() in IMG_EXTENSIONS:
                samples.append((path, label))
    return samples


def scan(data_dir: str | Path) -> dict:
    """Checks the tree and opens every image; returns {classes, train: [(path, label)], val: [...]}.
    Raises ValueError naming the folder or the first unreadable file."""
    from PIL import Image, UnidentifiedImageError

    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise ValueError(f"data_dir={str(root)!r}: no such folder")
    for split in SPLITS:
        if not (root / split).is_dir():
            raise ValueError(f"data_dir={str(root)!r} has no {split}/ folder (ImageFolder layout: train/ and val/)")
    classes = _classes(root / "train")
    if not classes:
        raise ValueError(f"data_dir={str(root)!r}: train/ holds no class folders")
    if _classes(root / "val") != classes:
        raise ValueError(f"data_dir={str(root)!r}: train/ and val/ hold different class folders")
    found = {"classes": classes}
    for split in SPLITS:
        samples = list_split(root, split, classes)
        if not samples:
            raise ValueError(f"data_dir={str(root)!r}: {split}/ holds no images ({', '.join(IMG_EXTENSIONS)})")
        for path, _ in samples:
            try:
                with Image.open(path) as image:
                    image.load()
            except (OSError, UnidentifiedImageError, ValueError) as exc:
                raise ValueError(f"data_dir: cannot read image {str(path)!r} ({type(exc).__name__})") from None
        found[split] = samples
    return found


def _load(path: Path, img_size: int, in_chans: int) -> np.ndarray:
    """Resize the short side to img_size / CROP_PCT (bicubic), centre crop, [0, 1], normalise."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        short = int(round(img_size / CROP_PCT))
        w, h = image.size
        scale = short / min(w, h)
        image = image.resize((max(img_size, round(w * scale)), max(img_size, round(h * scale))), Image.BICUBIC)
        w, h = image.size
        left, top = (w - img_size) // 2, (h - img_size) // 2
        image = image.crop((left, top, left + img_size, top + img_size))
        pixels = np.asarray(image, dtype=np.float32) / 255.0
    pixels = (pixels - IMAGENET_MEAN) / IMAGENET_STD
    if in_chans == 1:
        return pixels.mean(axis=-1, keepdims=True).transpose(2, 0, 1)
    return pixels.transpose(2, 0, 1)


def load_split(
    data_dir: str | Path, img_size: int, in_chans: int = 3, scanned: dict | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(x_train, y_train, x_val, y_val, classes): float32 [N, C, img_size, img_size], int64 labels."""
    scanned = scanned or scan(data_dir)
    arrays = []
    for split in SPLITS:
        samples = scanned[split]
        x = np.stack([_load(p, img_size, in_chans) for p, _ in samples]).astype(np.float32)
        y = np.array([label for _, label in samples], dtype=np.int64)
        arrays += [x, y]
    return (*arrays, scanned["classes"])
