"""mlpact.torch.images: image folders, the split, transforms and the dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("PIL")

SHAPES = {"circle": (220, 40, 40), "square": (40, 200, 40), "triangle": (40, 40, 220)}


def make_shapes(
    root: Path, *, per_class: int = 24, test_per_class: int = 8, size: int = 32, seed: int = 0
) -> Path:
    """train/ and test/ folders of coloured shapes on noisy backgrounds: three easy classes."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    for split, n in (("train", per_class), ("test", test_per_class)):
        for name, colour in SHAPES.items():
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                background = rng.integers(0, 90, (size, size, 3), dtype=np.uint8)
                img = Image.fromarray(background)
                draw = ImageDraw.Draw(img)
                r = int(rng.integers(size // 5, size // 3))
                cx, cy = (int(v) for v in rng.integers(r, size - r, 2))
                box = (cx - r, cy - r, cx + r, cy + r)
                if name == "circle":
                    draw.ellipse(box, fill=colour)
                elif name == "square":
                    draw.rectangle(box, fill=colour)
                else:
                    draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
                img.save(folder / f"{i:03d}.png")
    return root


def make_digits(
    root: Path,
    *,
    classes: tuple[int, ...] = (0, 1, 2),
    per_class: int = 30,
    test_per_class: int = 10,
    size: int = 16,
) -> Path:
    """scikit-learn's handwritten digits (real scans, 8x8) as PNG files in train/ and test/ class
    folders, upscaled to `size` pixels (grayscale, as PIL saves them)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for label in classes:
        images = digits.images[digits.target == label]
        for split, chosen in (
            ("train", images[:per_class]),
            ("test", images[per_class : per_class + test_per_class]),
        ):
            folder = root / split / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            for i, image in enumerate(chosen):
                pixels = (image * (255 / 16)).astype(np.uint8)
                Image.fromarray(pixels, mode="L").resize((size, size), Image.Resampling.NEAREST).save(
                    folder / f"{i:03d}.png"
                )
    return root


# --------------------------------------------------------------------------- folders
def _cfg(root: Path, **train: object) -> object:
    from mlpact.config import load_config

    return load_config({"name": "shapes", "data": {"source": str(root)},
                        "model": {"type": "mlpact.torch.models:TinyVGG"}, "train": train})  # fmt: skip


def test_read_folders_takes_classes_from_folder_names(tmp_path: Path) -> None:
    from mlpact.torch.images import read_folders

    root = make_shapes(tmp_path, per_class=4, test_per_class=2)
    splits = read_folders(root, _cfg(root))
    assert splits.classes == ["circle", "square", "triangle"]
    assert len(splits.train[0]) == 12 and len(splits.test[0]) == 6
    assert sorted(np.bincount(splits.train[1]).tolist()) == [4, 4, 4]
    assert all("test" in p.parts for p in splits.test[0])


def test_a_folder_of_class_folders_is_split_by_test_size(tmp_path: Path) -> None:
    from mlpact.torch.images import read_folders

    make_shapes(tmp_path, per_class=10, test_per_class=0)
    splits = read_folders(tmp_path / "train", _cfg(tmp_path / "train"))
    assert splits.layout == "split"
    assert len(splits.test[0]) == 6 and len(splits.train[0]) == 24  # 20% of each class
    assert not set(splits.train[0]) & set(splits.test[0])


@pytest.mark.parametrize(
    "layout, message",
    [
        ("missing", "does not exist"),
        ("no_test", "has a train/ folder but no test/ folder"),
        ("one_class", r"Expected one sub-folder per class \(at least 2\)"),
        ("extra_test_class", r"has class folders that training does not: \['dog'\]"),
        ("no_images", "No image files"),
    ],
)
def test_read_folders_errors(tmp_path: Path, layout: str, message: str) -> None:
    from mlpact.errors import DataError
    from mlpact.torch.images import read_folders

    root = tmp_path / "data"
    if layout != "missing":
        make_shapes(root, per_class=2, test_per_class=1)
    if layout == "no_test":
        import shutil

        shutil.rmtree(root / "test")
    elif layout == "one_class":
        import shutil

        for name in ("square", "triangle"):
            shutil.rmtree(root / "train" / name)
    elif layout == "extra_test_class":
        (root / "test" / "dog").mkdir()
    elif layout == "no_images":
        for path in root.rglob("*.png"):
            path.unlink()
    with pytest.raises(DataError, match=message):
        read_folders(root, _cfg(root))


@pytest.mark.parametrize("fraction, expected", [(0.0, 0), (0.25, 6), (0.5, 12)])
def test_split_validation_is_stratified_seeded_and_disjoint(fraction: float, expected: int) -> None:
    from mlpact.torch.images import split_validation

    labels = np.repeat([0, 1, 2], 8)
    fit, val = split_validation(labels, fraction, seed=3)
    assert len(val) == expected and len(fit) + len(val) == 24
    assert not set(fit) & set(val)
    if expected:
        assert np.bincount(labels[val]).tolist() == [expected // 3] * 3
    assert np.array_equal(split_validation(labels, fraction, seed=3)[1], val)


def test_unreadable_image_is_a_data_error(tmp_path: Path) -> None:
    from mlpact.errors import DataError
    from mlpact.torch.images import decode_bytes, read_image

    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(DataError, match="Cannot read image"):
        read_image(bad)
    with pytest.raises(DataError, match="Cannot read upload as an image: not an image file PIL can read"):
        decode_bytes(b"nope")


# --------------------------------------------------------------------------- transforms
IMAGE = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)


@pytest.mark.parametrize(
    "step, shape",
    [
        ({"type": "resize", "size": 4}, (4, 4, 3)),
        ({"type": "resize", "size": [3, 5]}, (3, 5, 3)),
        ({"type": "center_crop", "size": 4}, (4, 4, 3)),
        ({"type": "center_crop", "size": 10}, (10, 10, 3)),  # padded, as torchvision does
        ({"type": "random_crop", "size": [2, 3]}, (2, 3, 3)),
        ({"type": "hflip", "p": 1.0}, (6, 8, 3)),
        ({"type": "to_tensor"}, (3, 6, 8)),
    ],
)
def test_transform_shapes(step: dict[str, object], shape: tuple[int, ...]) -> None:
    from mlpact.torch.images import apply

    assert apply([step], IMAGE, np.random.default_rng(0)).shape == shape


def test_flips_to_tensor_and_normalize_values() -> None:
    from mlpact.torch.images import apply

    rng = np.random.default_rng(0)
    assert np.array_equal(apply([{"type": "hflip", "p": 1.0}], IMAGE, rng), IMAGE[:, ::-1])
    assert np.array_equal(apply([{"type": "vflip", "p": 1.0}], IMAGE, rng), IMAGE[::-1])
    assert np.array_equal(apply([{"type": "hflip", "p": 0.0}], IMAGE, rng), IMAGE)
    tensor = apply(
        [{"type": "to_tensor"}, {"type": "normalize", "mean": [0.5] * 3, "std": [0.5] * 3}], IMAGE, rng
    )
    assert tensor.dtype == np.float32
    assert np.allclose(tensor, (IMAGE.transpose(2, 0, 1) / 255.0 - 0.5) / 0.5, atol=1e-6)


def test_prediction_transforms_are_deterministic_versions_of_training_ones() -> None:
    from mlpact.torch.images import eval_steps, output_size, with_tensor

    steps = with_tensor(
        [{"type": "resize", "size": 40}, {"type": "random_crop", "size": 32}, {"type": "hflip"}]
    )
    assert [s["type"] for s in steps] == ["resize", "random_crop", "hflip", "to_tensor"]
    assert [s["type"] for s in eval_steps(steps)] == ["resize", "center_crop", "to_tensor"]
    assert output_size(steps) == (32, 32)


@pytest.mark.parametrize(
    "step, random",
    [
        ({"type": "resize", "size": 8}, False),
        ({"type": "center_crop", "size": 8}, False),
        ({"type": "to_tensor"}, False),
        ({"type": "normalize", "mean": [0.5], "std": [0.5]}, False),
        ({"type": "random_crop", "size": 8}, True),
        ({"type": "hflip"}, True),
        ({"type": "vflip", "p": 0.2}, True),
        ({"type": "mypkg.steps:Blur"}, False),
        ({"type": "mypkg.steps:Jitter", "random": True}, True),
    ],
)
def test_only_random_steps_draw_from_the_per_image_generator(step: dict[str, object], random: bool) -> None:
    from mlpact.torch.images import eval_steps, is_random

    assert is_random(step) is random
    assert (step not in eval_steps([step])) is random


def test_a_dataset_without_random_steps_gives_each_image_the_same_tensor_every_epoch(tmp_path: Path) -> None:
    from mlpact.torch.images import ImageDataset, Transforms, read_image

    root = make_shapes(tmp_path, per_class=2, test_per_class=1)
    paths = sorted((root / "train").rglob("*.png"))
    steps = [{"type": "resize", "size": 24}, {"type": "center_crop", "size": 20}, {"type": "to_tensor"}]
    data = ImageDataset(paths, np.zeros(len(paths), dtype=np.int64), steps, seed=3)
    first = data[1][0].numpy()
    data.epoch = 5
    direct = Transforms(steps)(read_image(paths[1]), np.random.default_rng(0))
    assert np.array_equal(first, data[1][0].numpy())
    assert np.array_equal(first, direct)
    assert first.shape == (3, 20, 20)


def test_normalize_before_to_tensor_is_a_config_error() -> None:
    from mlpact.errors import ConfigError
    from mlpact.torch.images import check_steps

    steps = [{"type": "normalize", "mean": [0.5], "std": [0.5]}, {"type": "to_tensor"}, {"type": "hflip"}]
    with pytest.raises(ConfigError, match=r"train.transforms.0: normalize must come after to_tensor") as exc:
        check_steps(steps)
    assert "train.transforms.2: hflip must come before to_tensor" in str(exc.value)


@pytest.mark.parametrize(
    "step, message",
    [
        ({"type": "resize"}, "resize needs size"),
        ({"type": "random_crop", "size": [0, 3]}, "random_crop needs size"),
        ({"type": "hflip", "size": 3}, "hflip takes no size"),
        ({"type": "normalize", "mean": [0.5, 0.5], "std": [0.5]}, "normalize needs mean and std"),
        ({"type": "normalize", "mean": [0.5], "std": [0.0]}, "every std must be positive"),
        ({"type": "blur"}, "train.transforms.0.type"),
    ],
)
def test_transform_config_errors(tmp_path: Path, step: dict[str, object], message: str) -> None:
    from mlpact.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        _cfg(tmp_path, transforms=[step])


def test_dataset_random_transforms_depend_on_seed_epoch_and_item(tmp_path: Path) -> None:
    from mlpact.torch.images import ImageDataset

    root = make_shapes(tmp_path, per_class=2, test_per_class=1)
    paths = sorted((root / "train").rglob("*.png"))
    steps = [{"type": "random_crop", "size": 20}, {"type": "to_tensor"}]
    a = ImageDataset(paths, np.zeros(len(paths), dtype=np.int64), steps, seed=1)
    b = ImageDataset(paths, np.zeros(len(paths), dtype=np.int64), steps, seed=1, cache=True)
    assert np.array_equal(a[0][0].numpy(), b[0][0].numpy())
    a.epoch = 1
    assert not np.array_equal(a[0][0].numpy(), b[0][0].numpy())


def test_prediction_input_resizes_a_file_as_training_reads_it_and_an_array_alike(tmp_path: Path) -> None:
    from PIL import Image

    from mlpact.torch.images import ImageDataset, read_image
    from mlpact.torch.inputs import ImageInput

    root = make_shapes(tmp_path, per_class=2, test_per_class=1, size=40)
    paths = sorted((root / "train").rglob("*.png"))
    Image.open(paths[1]).convert("L").save(paths[1])  # one grey image: converted, not read as is
    steps = [{"type": "resize", "size": 28}, {"type": "to_tensor"}]
    given = ImageInput(steps)([*paths[:2], read_image(paths[0]), paths[0].read_bytes()]).numpy()
    trained = ImageDataset(paths, np.zeros(len(paths), dtype=np.int64), steps)
    assert given.shape == (4, 3, 28, 28)
    assert np.array_equal(given[0], trained[0][0].numpy())
    assert np.array_equal(given[1], trained[1][0].numpy())
    assert np.array_equal(given[0], given[2])
    assert np.array_equal(given[0], given[3])
