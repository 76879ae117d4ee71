"""Image folders and transforms with PIL and NumPy (no torchvision needed).

The layout is the course's: `ROOT/train/CLASS/*.jpg` and `ROOT/test/CLASS/*.jpg`, class names
from folder names (sorted). A folder holding only class sub-folders is split by
`data.split.test_size` instead. Transforms are plain functions of a NumPy image, so training
and prediction apply exactly the same steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlpact.errors import ConfigError, DataError, UntrustedTypesError, UserCodeError
from mlpact.learn.pipeline import import_object
from mlpact.torch.deps import require

if TYPE_CHECKING:
    from mlpact.config import Config

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
Step = dict[str, Any]


# --------------------------------------------------------------------------- folders
@dataclass(frozen=True)
class ImageSplits:
    """Image paths and integer labels of the training and test splits, and the class names."""

    classes: list[str]
    train: tuple[list[Path], np.ndarray]
    test: tuple[list[Path], np.ndarray]
    layout: str


def image_files(path: Path) -> list[Path]:
    """Every image file under a folder (recursively, sorted), or the file itself."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_folders(root: Path, cfg: Config) -> ImageSplits:
    """The training and test images of an image folder.

    Raises:
        DataError: the folder is missing, has no class folders, or train/ and test/ disagree.
    """
    if not root.is_dir():
        raise DataError(f"Image folder {str(root)!r} does not exist.", hint="Check data.source.")
    if (root / "train").is_dir():
        if not (root / "test").is_dir():
            raise DataError(
                f"{str(root)!r} has a train/ folder but no test/ folder.",
                hint="Add test/ with the same class folders, or put the class folders directly in the root.",
            )
        classes = _classes(root / "train")
        return ImageSplits(
            classes, _labelled(root / "train", classes), _labelled(root / "test", classes), "train/test"
        )
    classes = _classes(root)
    paths, labels = _labelled(root, classes)
    train, test = _split_positions(labels, cfg.data.split.test_size, cfg.seed)
    return ImageSplits(
        classes, ([paths[i] for i in train], labels[train]), ([paths[i] for i in test], labels[test]), "split"
    )


def _classes(folder: Path) -> list[str]:
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DataError(
            f"Expected one sub-folder per class (at least 2) in {str(folder)!r}, found {classes!r}.",
            hint="Lay the images out as train/CLASS/*.jpg and test/CLASS/*.jpg.",
        )
    return classes


def _labelled(folder: Path, classes: Sequence[str]) -> tuple[list[Path], np.ndarray]:
    found = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise DataError(
            f"{str(folder)!r} has class folders that training does not: {unknown!r}.\n"
            f"Training classes: {list(classes)!r}."
        )
    paths: list[Path] = []
    labels: list[int] = []
    for index, name in enumerate(classes):
        files = image_files(folder / name) if (folder / name).is_dir() else []
        paths += files
        labels += [index] * len(files)
    if not paths:
        raise DataError(f"No image files ({', '.join(sorted(IMAGE_SUFFIXES))}) under {str(folder)!r}.")
    return paths, np.asarray(labels, dtype=np.int64)


def _split_positions(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A stratified, seeded split of positions: about `fraction` of each class goes to the second part."""
    rng = np.random.default_rng(seed)
    first: list[int] = []
    second: list[int] = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n = round(len(members) * fraction) if len(members) > 1 else 0
        n = min(max(n, 1 if len(members) > 1 and fraction > 0 else 0), len(members) - 1)
        second += members[:n].tolist()
        first += members[n:].tolist()
    return np.sort(np.asarray(first, dtype=np.int64)), np.sort(np.asarray(second, dtype=np.int64))


def split_validation(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the fitting and validation parts of the training data (stratified, seeded)."""
    if fraction <= 0:
        return np.arange(len(labels)), np.arange(0)
    return _split_positions(labels, fraction, seed + 1)


# --------------------------------------------------------------------------- transforms
def is_custom(step: Mapping[str, Any]) -> bool:
    """Whether a step is your own code (an import path) rather than a built-in one."""
    return step["type"] not in _TRANSFORMS


def is_random(step: Mapping[str, Any]) -> bool:
    """Whether a step draws from the per-image generator: random crops, flips, and your own
    steps marked `random: true` (every other step gives the same output for the same input)."""
    return step["type"] in ("random_crop", "hflip", "vflip") or (is_custom(step) and bool(step.get("random")))


def eval_steps(steps: Iterable[Mapping[str, Any]]) -> list[Step]:
    """The prediction-time transforms: random crops become centre crops; flips and your own
    random steps are dropped."""
    out: list[Step] = []
    for step in steps:
        if is_random(step) and step["type"] != "random_crop":
            continue
        out.append({**step, "type": "center_crop"} if step["type"] == "random_crop" else dict(step))
    return out


def with_tensor(steps: Iterable[Mapping[str, Any]]) -> list[Step]:
    """The steps with `to_tensor` appended when the list does not have one."""
    out = [dict(s) for s in steps]
    return out if any(s["type"] == "to_tensor" for s in out) else [*out, {"type": "to_tensor"}]


def check_steps(steps: Sequence[Mapping[str, Any]]) -> None:
    """Image steps before `to_tensor`, `normalize` after it (your own steps go anywhere).

    Raises:
        ConfigError: a step is on the wrong side of `to_tensor`.
    """

    at = next(i for i, s in enumerate(steps) if s["type"] == "to_tensor")
    wrong = [f"train.transforms.{i}: {s['type']} must come after to_tensor"
             for i, s in enumerate(steps[:at]) if s["type"] == "normalize"]  # fmt: skip
    wrong += [f"train.transforms.{at + 1 + i}: {s['type']} must come before to_tensor"
              for i, s in enumerate(steps[at + 1 :])
              if s["type"] != "normalize" and not is_custom(s)]  # fmt: skip
    if wrong:
        raise ConfigError(wrong)


def output_size(steps: Sequence[Mapping[str, Any]]) -> tuple[int, int] | None:
    """(height, width) after the steps, from the last resize or crop; None if none sets it."""
    sized = [s for s in steps if s["type"] in ("resize", "center_crop", "random_crop")]
    return _hw(sized[-1]["size"]) if sized else None


def _hw(size: int | Sequence[int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[-1]))


def split_deterministic(steps: Sequence[Step]) -> tuple[list[Step], list[Step]]:
    """The leading steps that give the same output every time (cacheable), and the rest."""
    n = 0
    while n < len(steps) and steps[n]["type"] in ("resize", "center_crop"):
        n += 1
    return list(steps[:n]), list(steps[n:])


_NOT_AN_IMAGE = "not an image file PIL can read (PNG, JPEG, GIF, BMP, TIFF, WebP, ...)"
_FILTERS = {"bilinear": "BILINEAR", "bicubic": "BICUBIC", "nearest": "NEAREST"}


def _filter(image: Any, step: Mapping[str, Any]) -> Any:
    """The PIL resampling filter a resize step names (bilinear unless it says otherwise)."""
    image_mod = require("PIL.Image", feature="Reading images")
    return getattr(image_mod.Resampling, _FILTERS[step.get("interpolation") or "bilinear"])


@contextmanager
def opened(path: Path | str) -> Iterator[Any]:
    """A PIL image of a file; a missing or unreadable file is a DataError naming it.

    Raises:
        DataError: the file does not exist or is not an image PIL can read.
    """
    image_mod = require("PIL.Image", feature="Reading images")
    try:
        with image_mod.open(path) as img:
            yield img
    except FileNotFoundError:
        raise DataError(f"Image {str(path)!r} does not exist.") from None
    except image_mod.UnidentifiedImageError:
        raise DataError(f"Cannot read image {str(path)!r}: {_NOT_AN_IMAGE}.") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"Cannot read image {str(path)!r}: {exc}") from exc


def read_image(path: Path | str, resize: Mapping[str, Any] | None = None) -> np.ndarray:
    """An image file as an RGB uint8 array of shape (height, width, 3), optionally resized by a
    `resize` step while still a PIL image (one conversion instead of two).

    Raises:
        DataError: the file does not exist or is not an image PIL can read.
    """
    with opened(path) as img:
        rgb = img if img.mode == "RGB" else img.convert("RGB")  # convert() would copy an RGB image
        if resize is not None and rgb.size != _hw(resize["size"])[::-1]:
            rgb = rgb.resize(_hw(resize["size"])[::-1], _filter(rgb, resize))
        return pixels(rgb)


def pixels(img: Any) -> np.ndarray:
    """A PIL image's pixels as a (read-only) array, for 8-bit RGB and greyscale through one
    `tobytes` copy: `np.asarray(img)` goes through the array interface and takes about 1.6x as
    long (measured: 1.18 ms against 0.73 ms for 640x480 RGB). Other modes: `np.asarray`."""
    if img.mode == "RGB":
        return np.frombuffer(img.tobytes(), dtype=np.uint8).reshape(img.height, img.width, 3)
    if img.mode == "L":
        return np.frombuffer(img.tobytes(), dtype=np.uint8).reshape(img.height, img.width)
    return np.asarray(img)


def decode_bytes(data: bytes, *, name: str = "upload") -> np.ndarray:
    """Image bytes (an upload) as an RGB uint8 array.

    Raises:
        DataError: naming `name`, when the bytes are not an image PIL can read.
    """
    import io

    image_mod = require("PIL.Image", feature="Reading images")
    try:
        with image_mod.open(io.BytesIO(data)) as img:
            return pixels(img if img.mode == "RGB" else img.convert("RGB"))
    except image_mod.UnidentifiedImageError:
        raise DataError(f"Cannot read {name} as an image: {_NOT_AN_IMAGE}.") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"Cannot read {name} as an image: {exc}") from exc


Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


class Transforms:
    """A list of transform steps compiled once: the built-in ones and your own (imported when the
    list is built, so a missing or untrusted one fails before any image is read).

    Args:
        steps: the steps, as `train.transforms` entries (dicts).
        trusted: the import paths your own steps may name (None: any; loading a version passes
            the paths its config names, recorded in the store index, plus --trust).
    """

    def __init__(self, steps: Sequence[Mapping[str, Any]], *, trusted: Iterable[str] | None = None) -> None:
        self.steps = [dict(s) for s in steps]
        allowed = None if trusted is None else set(trusted)
        at = next((i for i, s in enumerate(self.steps) if s["type"] == "to_tensor"), len(self.steps))
        self.functions: list[Transform] = [
            _compile(step, i, tensor=i > at, trusted=allowed) for i, step in enumerate(self.steps)
        ]

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Apply the steps to one image (HWC uint8 in; CHW float32 out after `to_tensor`)."""
        for function in self.functions:
            image = function(image, rng)
        return image

    def __len__(self) -> int:
        return len(self.steps)


def _compile(step: Step, index: int, *, tensor: bool, trusted: set[str] | None) -> Transform:
    if not is_custom(step):
        builtin = _TRANSFORMS[step["type"]]
        return lambda image, rng: builtin(image, step, rng)
    path = str(step["type"])
    if (
        trusted is not None
        and path not in trusted
        and path.replace(":", ".") not in {t.replace(":", ".") for t in trusted}
    ):
        raise UntrustedTypesError([path], file="transforms.json")

    obj = import_object(path, key=f"train.transforms.{index}.type")
    params = dict(step.get("params") or {})
    if isinstance(obj, type):
        from mlpact.torch.parts import build

        obj = build(obj, [], params, key=f"train.transforms.{index}")
    elif params:
        function = obj
        obj = lambda x: function(x, **params)  # noqa: E731 - a function with its params bound
    return CustomStep(path, obj, random=bool(step.get("random")), tensor=tensor)


def apply(steps: Sequence[Mapping[str, Any]], image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Apply transform steps (dicts, compiled on the fly) to one image."""
    return Transforms(steps)(image, rng)


class CustomStep:
    """Your own transform: fed a PIL image before `to_tensor` and a CHW float tensor after it,
    seeded per image from the dataset's generator (a random step varies by seed, epoch and image;
    any step gives the same output for the same input every time)."""

    def __init__(self, path: str, function: Callable[[Any], Any], *, random: bool, tensor: bool) -> None:
        self.path, self.function, self.random, self.tensor = path, function, random, tensor

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        torch = require("torch")
        seed = int(rng.integers(2**31)) if self.random else 0
        given = torch.from_numpy(np.ascontiguousarray(image)) if self.tensor else _to_pil(image)
        try:
            with _seeded(torch, seed):
                out = self.function(given)
        except Exception as exc:
            raise UserCodeError(
                f"The transform {self.path} raised {type(exc).__name__} on "
                f"{'a tensor' if self.tensor else 'an image'} of shape {tuple(image.shape)}: {exc}",
                hint="It is your code, named in train.transforms: it is given a PIL image before "
                "to_tensor and a CHW float tensor after it, and returns the same kind.",
            ) from exc
        return _from_tensor(out, self.path) if self.tensor else _from_image(out, self.path)


@contextmanager
def _seeded(torch: Any, seed: int) -> Iterator[None]:
    """Seed torch, `random` and NumPy's global generator for one call, then restore them all."""
    import random

    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


def _to_pil(image: np.ndarray) -> Any:
    image_mod = require("PIL.Image", feature="Reading images")
    return image_mod.fromarray(image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image)


def _from_image(out: Any, path: str) -> np.ndarray:
    """What a step before `to_tensor` returned, as an HWC uint8 array."""

    if hasattr(out, "detach"):
        out = out.detach().cpu().numpy()
        if out.ndim == 3 and out.shape[0] in (1, 3, 4) and out.shape[2] not in (1, 3, 4):
            out = out.transpose(1, 2, 0)
    array = np.asarray(out)
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise UserCodeError(
            f"The transform {path} returned {type(out).__name__} of shape {array.shape} and dtype "
            f"{array.dtype} before to_tensor; expected an image (PIL, or a uint8 array).",
            hint="Return a PIL image, or move the step after to_tensor to work on float tensors.",
        )
    return array[..., None] if array.ndim == 2 else array


def _from_tensor(out: Any, path: str) -> np.ndarray:
    """What a step after `to_tensor` returned, as a CHW float32 array."""

    array = out.detach().cpu().numpy() if hasattr(out, "detach") else np.asarray(out)
    if array.ndim != 3 or not np.issubdtype(array.dtype, np.floating):
        raise UserCodeError(
            f"The transform {path} returned {type(out).__name__} of shape {array.shape} and dtype "
            f"{array.dtype} after to_tensor; expected a CHW float tensor."
        )
    return array.astype(np.float32, copy=False)


def _resize(image: np.ndarray, step: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    h, w = _hw(step["size"])
    if image.shape[:2] == (h, w):
        return image
    resized = _to_pil(image).resize((w, h), _filter(image, step))
    out = pixels(resized)
    return out[..., None] if out.ndim == 2 else out


def _crop_at(image: np.ndarray, h: int, w: int, top: int, left: int) -> np.ndarray:
    if image.shape[0] < h or image.shape[1] < w:
        pad_h, pad_w = max(h - image.shape[0], 0), max(w - image.shape[1], 0)
        image = np.pad(image, ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
        top, left = min(top, image.shape[0] - h), min(left, image.shape[1] - w)
    return image[top : top + h, left : left + w]


def _center_crop(image: np.ndarray, step: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    h, w = _hw(step["size"])
    return _crop_at(image, h, w, max(image.shape[0] - h, 0) // 2, max(image.shape[1] - w, 0) // 2)


def _random_crop(image: np.ndarray, step: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    h, w = _hw(step["size"])
    top = int(rng.integers(0, max(image.shape[0] - h, 0) + 1))
    left = int(rng.integers(0, max(image.shape[1] - w, 0) + 1))
    return _crop_at(image, h, w, top, left)


def _flip(axis: int) -> Callable[[np.ndarray, Mapping[str, Any], np.random.Generator], np.ndarray]:
    def flip(image: np.ndarray, step: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
        return np.flip(image, axis=axis) if rng.random() < step.get("p", 0.5) else image

    return flip


def _to_tensor(image: np.ndarray, step: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    out = np.empty((image.shape[2], image.shape[0], image.shape[1]), dtype=np.float32)
    np.multiply(image.transpose(2, 0, 1), np.float32(1 / 255), out=out)
    return out


def _normalize(image: np.ndarray, step: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    mean = np.asarray(step["mean"], dtype=np.float32)[:, None, None]
    std = np.asarray(step["std"], dtype=np.float32)[:, None, None]
    return (image - mean) / std


_TRANSFORMS: dict[str, Callable[[np.ndarray, Mapping[str, Any], np.random.Generator], np.ndarray]] = {
    "resize": _resize,
    "center_crop": _center_crop,
    "random_crop": _random_crop,
    "hflip": _flip(1),
    "vflip": _flip(0),
    "to_tensor": _to_tensor,
    "normalize": _normalize,
}


# --------------------------------------------------------------------------- dataset
class ImageDataset:
    """Images and labels for a torch DataLoader; random transforms are seeded per (epoch, item),
    so any number of workers gives the same batches, and a resumed run the same epochs."""

    def __init__(
        self,
        paths: Sequence[Path],
        labels: np.ndarray,
        steps: Sequence[Step],
        *,
        seed: int = 0,
        cache: bool = False,
    ) -> None:
        self.paths, self.labels, self.seed, self.epoch = list(paths), labels, seed, 0
        fixed, rest = split_deterministic(list(steps)) if cache else ([], list(steps))
        self.transforms = Transforms(rest)
        self._resize = rest[0] if rest and rest[0]["type"] == "resize" else None
        # Seeding a generator per image costs ~10-40 us (more than the resize of a small image):
        # made only when a step draws from it; the others are given one that nothing reads.
        self._random = any(is_random(s) for s in rest)
        self._unused = np.random.default_rng(seed)
        self._cache: list[np.ndarray] | None = None
        if cache:  # decode (and resize while decoding) once; keep the deterministic prefix's output
            none = np.random.default_rng(0)
            head = fixed[0] if fixed and fixed[0]["type"] == "resize" else None
            prefix = Transforms(fixed[1:] if head else fixed)
            self._cache = [prefix(read_image(p, head), none) for p in self.paths]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        torch = require("torch")
        functions = self.transforms.functions
        if self._cache is not None:
            image = self._cache[index]
        elif self._resize is not None:
            image, functions = read_image(self.paths[index], self._resize), functions[1:]
        else:
            image = read_image(self.paths[index])
        rng = np.random.default_rng([self.seed, self.epoch, index]) if self._random else self._unused
        for function in functions:
            image = function(image, rng)
        return torch.from_numpy(np.ascontiguousarray(image)), int(self.labels[index])


# --------------------------------------------------------------------------- labelled images
@dataclass(frozen=True)
class Labelled:
    """Image files with their labels, and the folder names are relative to."""

    paths: list[Path]
    labels: list[str]
    root: Path
    source: str


def labelled_images(data: str | Path, classes: Sequence[str], *, target: str, sep: str = ",") -> Labelled:
    """The labelled images a folder of class folders or a table of paths and labels describes.

    Raises:
        DataError: the folder or file does not exist, holds labels the model does not know, no
            image, or (a table) lacks the `path` or the label column.
    """
    path = Path(data)
    if not path.exists():
        raise DataError(f"{str(data)!r} does not exist.", hint="Give a folder of class folders or a table.")
    found = _from_folder(path) if path.is_dir() else _from_table(path, target=target, sep=sep)
    unknown = sorted(set(found.labels) - {str(c) for c in classes})
    if unknown:
        raise DataError(
            f"{str(data)!r} has labels the model does not know: {unknown!r}; its classes: {list(classes)!r}.",
            hint="Evaluate on images of the model's classes (for the course layout, the folder that "
            "holds the class folders, e.g. DATA/test).",
        )
    if not found.paths:
        raise DataError(f"No image files under {str(data)!r}.")
    return found


def _from_folder(root: Path) -> Labelled:
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    paths: list[Path] = []
    labels: list[str] = []
    for folder in folders:
        files = image_files(folder)
        paths += files
        labels += [folder.name] * len(files)
    return Labelled(paths, labels, root, str(root.resolve()))


def _from_table(file: Path, *, target: str, sep: str) -> Labelled:
    from mlpact.data.sources import read_table

    frame = read_table(file, sep=sep)
    missing = [c for c in ("path", target) if c not in frame.columns]
    if missing:
        raise DataError(
            f"{str(file)!r} needs a `path` column and the label column {target!r}; missing {missing!r} "
            f"(it has {sorted(map(str, frame.columns))!r}).",
            hint="Name the label column with --target.",
        )
    frame = frame[frame[target].notna()]
    root = file.resolve().parent
    paths = [p if p.is_absolute() else root / p for p in map(Path, frame["path"].astype(str))]
    return Labelled(paths, frame[target].astype(str).tolist(), root, str(file.resolve()))
