"""Training and test data for the trainer: the embedded digits set, ImageFolder trees, synthetic images.

Every training set here yields ``(image, target, index)``: the example-level selector needs to know
which data-set example each prediction belongs to. Which examples are loaded at all is decided by the
sampler (``model.example_level.SubsetSampler``); a dataset never sees an index outside the subset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from model.torchvision_compat import ensure_torchvision_importable

ensure_torchvision_importable()  # before timm/torchvision: PyPI torchvision on a CPU-only torch build

Transform = Callable[[object], object]  # an image transform (torchvision v2 / timm): PIL or tensor in, tensor out


@dataclass
class DataBundle:
    train: Dataset
    test: Dataset
    num_classes: int
    in_chans: int
    img_size: int


class IndexedDataset(Dataset):
    """Wraps a dataset of ``(image, target)`` pairs so it also returns the example's index."""

    def __init__(self, base: Dataset):
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int):
        image, target = self.base[index]
        return image, target, index


class TensorImages(Dataset):
    """Images held in memory as one float tensor [N, C, H, W], with an optional per-image transform."""

    def __init__(self, images: torch.Tensor, targets: torch.Tensor, transform: Transform | None = None) -> None:
        if len(images) != len(targets):
            raise ValueError(f"images ({len(images)}) and targets ({len(targets)}) differ in length")
        self.images = images
        self.targets = targets
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.targets[index])


def digits_train_transform(translate: float, rotate: float, scale: float, background: float) -> Transform | None:
    """Light geometric jitter only: 8x8 digits carry too little detail for colour or crop policies.
    Pixels moved in from outside take the (normalised) blank-paper value."""
    from torchvision.transforms import v2

    if translate == 0 and rotate == 0 and scale == 0:
        return None
    return v2.RandomAffine(
        degrees=rotate, translate=(translate, translate), scale=(1 - scale, 1 + scale), fill=background
    )


def build_digits(
    img_size: int, in_chans: int, translate: float = 0.1, rotate: float = 10.0, scale: float = 0.1
) -> DataBundle:
    """scikit-learn's digits with the board host's preprocessing (``host.digits``: upscaling, the fixed
    stratified split, normalisation), so both sides train on identical inputs."""
    from host.digits import load_digits_split

    if in_chans != 1:
        raise ValueError(f"in_chans={in_chans}: the digits data are grey-scale, the model needs in_chans=1")
    x_train, y_train, x_test, y_test = load_digits_split(img_size)
    train = TensorImages(
        torch.from_numpy(x_train),
        torch.from_numpy(y_train),
        digits_train_transform(translate, rotate, scale, float(x_train.min())),
    )
    test = TensorImages(torch.from_numpy(x_test), torch.from_numpy(y_test))
    return DataBundle(IndexedDataset(train), IndexedDataset(test), 10, 1, img_size)


def deit_train_transform(
    img_size: int,
    auto_augment: str | None,
    re_prob: float,
    color_jitter: float,
    interpolation: str = "bicubic",
    **stats: tuple[float, ...],
) -> Transform:
    """The DeiT ImageNet training pipeline, built by timm's own factory (``stats``: mean/std)."""
    from timm.data import create_transform

    transform = create_transform(
        img_size,
        is_training=True,
        auto_augment=auto_augment or None,
        re_prob=re_prob,
        re_mode="pixel",
        re_count=1,
        color_jitter=color_jitter,
        interpolation=interpolation,
        **stats,
    )
    return _posterize_keeps_one_bit(transform)


def _posterize_keeps_one_bit(transform: Transform) -> Transform:
    """timm's increasing posterize ('inc1' policies) maps the top magnitude to 0 bits, which Pillow >= 9
    rejects (ValueError mid-epoch, at random); keep at least 1 bit, as old Pillow's result (black) nearly is."""
    from timm.data.auto_augment import RandAugment

    for step in getattr(transform, "transforms", []):
        if isinstance(step, RandAugment):
            for op in step.ops:
                if op.name == "PosterizeIncreasing":
                    level_fn = op.level_fn
                    op.level_fn = lambda level, hparams, _fn=level_fn: (max(1, _fn(level, hparams)[0]),)
    return transform


def deit_eval_transform(img_size: int, interpolation: str = "bicubic", **stats: tuple[float, ...]) -> Transform:
    from timm.data import create_transform

    return create_transform(img_size, is_training=False, interpolation=interpolation, crop_pct=0.875, **stats)


def build_image_folder(
    data_dir: str | Path, img_size: int, auto_augment: str | None, re_prob: float, color_jitter: float
) -> DataBundle:
    from torchvision.datasets import ImageFolder

    from host.image_folder import scan

    root = Path(data_dir).expanduser()
    scan(root)  # the host's rules (the same as ImageFolder's); opens every image once, so a broken file is named now
    train = ImageFolder(root / "train", deit_train_transform(img_size, auto_augment, re_prob, color_jitter))
    test = ImageFolder(root / "val", deit_eval_transform(img_size))
    if train.classes != test.classes:
        raise ValueError(f"data_dir={str(root)!r}: train/ and val/ hold different class folders")
    return DataBundle(IndexedDataset(train), IndexedDataset(test), len(train.classes), 3, img_size)


class SyntheticImages(Dataset):
    """ImageFolder-shaped synthetic data: a deterministic random picture per index, as a PIL image,
    pushed through the same transform as a real ImageFolder (so loading costs what it would)."""

    def __init__(
        self,
        length: int,
        img_size: int,
        num_classes: int,
        transform: Transform | None = None,
        seed: int = 0,
        in_chans: int = 3,
    ) -> None:
        if in_chans not in (1, 3):
            raise ValueError(f"in_chans={in_chans}: synthetic images are grey (1) or RGB (3)")
        self.length = length
        self.img_size = img_size
        self.num_classes = num_classes
        self.transform = transform
        self.seed = seed
        self.in_chans = in_chans

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        from PIL import Image

        rng = np.random.default_rng((self.seed, index))
        shape = (self.img_size, self.img_size) + ((3,) if self.in_chans == 3 else ())
        image = Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8))
        if self.transform is not None:
            image = self.transform(image)
        return image, index % self.num_classes


def build_synthetic(
    img_size: int,
    in_chans: int,
    num_classes: int,
    length: int,
    auto_augment: str | None,
    re_prob: float,
    color_jitter: float,
) -> DataBundle:
    # timm's ImageNet statistics, first channel only for grey images
    from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

    stats = dict(mean=IMAGENET_DEFAULT_MEAN[:in_chans], std=IMAGENET_DEFAULT_STD[:in_chans])
    train = SyntheticImages(
        length,
        img_size,
        num_classes,
        deit_train_transform(img_size, auto_augment, re_prob, color_jitter, **stats),
        in_chans=in_chans,
    )
    test = SyntheticImages(
        max(length // 10, num_classes),
        img_size,
        num_classes,
        deit_eval_transform(img_size, **stats),
        seed=1,
        in_chans=in_chans,
    )
    return DataBundle(IndexedDataset(train), IndexedDataset(test), num_classes, in_chans, img_size)
