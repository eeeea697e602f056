"""The trainer's data: the embedded digits split, ImageFolder trees, synthetic images."""

import numpy as np
import pytest
import torch

from model.data import SyntheticImages, build_digits, build_image_folder, build_synthetic


def test_digits_split_is_fixed_stratified_and_matches_sklearn():
    from sklearn.datasets import load_digits

    raw = load_digits()
    data = build_digits(img_size=32, in_chans=1, translate=0, rotate=0, scale=0)
    assert (len(data.train), len(data.test)) == (1437, 360)
    test_labels = np.array([data.test[i][1] for i in range(len(data.test))])
    # stratified: each class holds ~20 % of its examples in the test split
    counts = np.bincount(test_labels, minlength=10)
    expected = np.bincount(raw.target, minlength=10) * 0.2
    assert np.all(np.abs(counts - expected) <= 1)
    # the same split on a second build (fixed seed, not the run's)
    again = build_digits(img_size=32, in_chans=1, translate=0, rotate=0, scale=0)
    assert torch.equal(data.test.base.images, again.test.base.images)
    # every test image is an upscaled digit: down-sampling it back (8x8 means of 4x4 blocks of a
    # bilinear upscale) correlates with exactly one raw digit of the same label
    image, label, index = data.test[7]
    assert image.shape == (1, 32, 32) and index == 7
    small = image.reshape(8, 4, 8, 4).mean(dim=(1, 3)).numpy().ravel()
    flat = raw.images.reshape(len(raw.images), -1)
    corr = [np.corrcoef(small, row)[0, 1] if row.std() > 0 else -1 for row in flat]
    assert raw.target[int(np.argmax(corr))] == label


def test_digits_augmentation_keeps_shape_and_is_seeded():
    data = build_digits(img_size=32, in_chans=1)
    torch.manual_seed(3)
    first = data.train[11][0]
    torch.manual_seed(3)
    second = data.train[11][0]
    assert first.shape == (1, 32, 32) and torch.equal(first, second)
    assert not torch.equal(first, data.train.base.images[11])  # the jitter did move pixels


def test_digits_rejects_rgb_models():
    with pytest.raises(ValueError, match="in_chans"):
        build_digits(img_size=32, in_chans=3)


def test_image_folder_tree(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            folder = tmp_path / split / cls
            folder.mkdir(parents=True)
            for i in range(2):
                Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    data = build_image_folder(
        tmp_path, img_size=32, auto_augment="rand-m9-mstd0.5-inc1", re_prob=0.25, color_jitter=0.3
    )
    assert data.num_classes == 2 and len(data.train) == 4 and len(data.test) == 4
    image, target, index = data.train[3]
    assert image.shape == (3, 32, 32) and target == 1 and index == 3
    assert data.test[0][0].shape == (3, 32, 32)


def test_image_folder_needs_both_splits(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(ValueError, match="val/"):
        build_image_folder(tmp_path, 32, None, 0.0, 0.0)


def test_synthetic_images_are_deterministic_per_index():
    data = SyntheticImages(10, img_size=16, num_classes=3)
    a, b = data[4][0], data[4][0]
    assert np.array_equal(np.asarray(a), np.asarray(b)) and data[4][1] == 1
    assert not np.array_equal(np.asarray(a), np.asarray(data[5][0]))


def test_synthetic_bundle_runs_the_deit_pipeline_for_grey_models():
    data = build_synthetic(
        img_size=32,
        in_chans=1,
        num_classes=10,
        length=20,
        auto_augment="rand-m9-mstd0.5-inc1",
        re_prob=0.25,
        color_jitter=0.3,
    )
    image, target, index = data.train[13]
    assert image.shape == (1, 32, 32) and (target, index) == (3, 13) and image.dtype == torch.float32


def test_deit_randaugment_never_asks_pillow_for_zero_posterize_bits():
    from PIL import Image
    from timm.data.auto_augment import RandAugment

    from model.data import deit_train_transform

    transform = deit_train_transform(32, "rand-m9-mstd0.5-inc1", 0.25, 0.3)
    randaug = next(t for t in transform.transforms if isinstance(t, RandAugment))
    posterize = next(op for op in randaug.ops if op.name == "PosterizeIncreasing")
    assert posterize.level_fn(10.0, posterize.hparams) == (1,)  # timm alone gives 0 bits here
    posterize.prob, posterize.magnitude, posterize.magnitude_std = 1.0, 10.0, 0.0
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    assert np.asarray(posterize(image)).max() <= 128  # applied (1 bit kept), no ValueError
