"""`mlpact.save(module, name, kind="image", ...)`: an image CNN trained in your own loop, versioned.

What is saved is what predicting and serving apply: the module (weights.safetensors +
model.json: its class and constructor arguments) and the transforms you give (transforms.json,
the same steps `train.transforms` takes, your own by import path too). Before anything is
written, one image (from `test_data` or `train_data`) or `example_input` goes through the
transforms and the module, so a wrong input size or class count fails here, not at the first
request. `test_data` (class folders) is scored once with mlpact's metrics; `train_data` (class
folders), when given, is fingerprinted and summarised for `mlpact check`. The version's origin is
`external`: its card says mlpact did not train it, it has no training history, and `mlpact
reproduce` refuses it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from mlpact._core import files
from mlpact._core.lineage import environment, git_state
from mlpact._core.metrics import finite_json, metrics_for, primary_metric
from mlpact._core.plots import write_plots
from mlpact.config import TransformStep, import_paths, validate_config
from mlpact.data import reference
from mlpact.errors import ConfigError, DataError
from mlpact.external.flavors import TorchExternal
from mlpact.learn.scoring import assess
from mlpact.torch.deps import require
from mlpact.torch.engine import module_error
from mlpact.torch.images import check_steps, eval_steps, labelled_images, with_tensor
from mlpact.torch.imagestats import build_reference, sample
from mlpact.torch.inputs import ImageInput
from mlpact.torch.saving import TRANSFORMS_JSON, TorchPredictor, resolve_kwargs, save_module
from mlpact.version import bundle, envlock, inspection, usercode
from mlpact.version.write import finalize_version

if TYPE_CHECKING:
    from mlpact._core.metrics import MetricsFile
    from mlpact.config import Config
    from mlpact.store import Store, VersionRecord
    from mlpact.torch.images import Labelled

torch = require("torch")
ORIGIN = "external"


def save_image_model(
    store: Store,
    name: str,
    module: Any,
    *,
    run_id: str,
    transforms: Sequence[Mapping[str, Any] | str] | None,
    classes: Iterable[Any] | None,
    init_kwargs: Mapping[str, Any] | None,
    example_input: Any = None,
    train_data: str | Path | None = None,
    test_data: str | Path | None = None,
    metrics: Mapping[str, float] | None = None,
    config: Mapping[str, Any] | None = None,
) -> VersionRecord:
    """Version an image classifier trained outside mlpact (see the module docstring).

    Raises:
        DataError: missing classes or transforms, random transforms, data that is not a folder of
            the classes' folders, or a module whose input or output does not fit.
        ConfigError: a transform step or `config` is invalid.
    """
    import shutil

    steps = _steps(transforms)
    train = _folder(train_data, "train_data", None)
    names = _classes(classes, train)
    test = _folder(test_data, "test_data", names)
    kwargs = _all_kwargs(type(module), init_kwargs)
    flavor = TorchExternal(module, kwargs, names, None)
    flavor.task_name = "classification"
    cfg = _config(name, flavor.model_type(), kwargs, steps, train, config)
    flavor.rebuilt = flavor._rebuild()

    shape = _check_fit(flavor.rebuilt, ImageInput(steps), names, example_input, train, test)
    predictor = TorchPredictor(flavor.rebuilt, ImageInput(steps), names)
    tmp = store.new_tmp_dir()
    try:
        return _write(store, tmp, cfg, flavor, predictor, steps, shape, train, test, metrics, run_id)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _all_kwargs(cls: type, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """`init_kwargs` with every other constructor argument's default (what model.json records)."""

    try:
        return resolve_kwargs(cls, dict(given or {}), {})
    except ConfigError as exc:
        raise DataError(
            f"init_kwargs: {'; '.join(exc.problems)}".replace("model.params: ", ""),
            hint="init_kwargs are the keyword arguments you built the module with.",
        ) from None


def _steps(transforms: Sequence[Mapping[str, Any] | str] | None) -> list[dict[str, Any]]:
    """The prediction transforms, validated like `train.transforms`; random steps are refused."""

    if not transforms:
        raise DataError(
            "kind='image' needs transforms=[...]: the steps that turn an image file into your module's "
            "input, e.g. [{'type': 'resize', 'size': 64}, {'type': 'to_tensor'}].",
        )
    entries = [{"type": t} if isinstance(t, str) else dict(t) for t in transforms]
    try:
        steps = with_tensor(TransformStep(**e).model_dump() for e in entries)
    except ValueError as exc:
        raise ConfigError([f"transforms: {exc}"]) from None
    check_steps(steps)
    random = [s["type"] for s in steps if s not in eval_steps(steps)]
    if random:
        raise DataError(
            f"transforms are what prediction applies; random steps have no place there: {random!r}.",
            hint="Give the deterministic steps your evaluation used (e.g. center_crop, not random_crop).",
        )
    return steps


def _folder(data: str | Path | None, what: str, classes: Sequence[str] | None) -> Labelled | None:

    if data is None:
        return None
    if not isinstance(data, str | Path) or not Path(data).is_dir():
        raise DataError(f"{what}: expected a folder of class folders (CLASS/*.jpg), got {data!r}.")
    known = classes or sorted(
        p.name for p in Path(data).iterdir() if p.is_dir() and not p.name.startswith(".")
    )
    return labelled_images(data, known, target="label")


def _classes(classes: Iterable[Any] | None, train: Labelled | None) -> list[str]:
    names = [str(c) for c in classes] if classes is not None else None
    if names is None and train is not None:
        names = sorted(set(train.labels))
    if not names or len(names) < 2:
        raise DataError(
            "kind='image' needs classes=[...] (at least 2): the class of each output of the module, "
            "in order.",
            hint="Pass classes=, or train_data= (a folder of class folders, whose sorted names are the "
            "classes).",
        )
    if train is not None and set(train.labels) - set(names):
        raise DataError(
            f"train_data has classes not in classes=: {sorted(set(train.labels) - set(names))!r}."
        )
    return names


def _config(
    name: str,
    model_type: str,
    init_kwargs: Mapping[str, Any] | None,
    steps: list[dict[str, Any]],
    train: Labelled | None,
    overlay: Mapping[str, Any] | None,
) -> Config:

    raw: dict[str, Any] = json.loads(json.dumps(dict(overlay or {}), default=str))
    for key in ("model", "name", "train"):
        if key in raw:
            raise DataError(
                f"config: {key!r} is taken from what you save, not given (found {key}: {raw[key]!r}).",
                hint="Remove it from config=; the name is save()'s second argument.",
            )
    data = {**dict(raw.get("data") or {}), "source": train.source if train else ORIGIN, "target": "label"}
    raw.update(name=name, data={**data, "task": "classification"})
    raw["model"] = {"type": model_type, "params": dict(init_kwargs or {})}
    raw["train"] = {"transforms": [{k: v for k, v in s.items() if v not in (None, {})} for s in steps]}
    return validate_config(raw, label=f"mlpact.save({name!r}, config=...)")


def _check_fit(
    module: Any,
    to_tensor: Any,
    classes: Sequence[str],
    example: Any,
    train: Labelled | None,
    test: Labelled | None,
) -> list[int]:
    """Run one input through the module: the transforms' output shape must be what the module
    takes, and the module must give one output per class. Returns the input shape (C, H, W)."""
    probe = next((d.paths[0] for d in (test, train) if d is not None and d.paths), None)
    given = None if example is None else torch.as_tensor(np.asarray(example), dtype=torch.float32)
    if given is not None and given.ndim == 4:
        given = given[0]
    if probe is None and given is None:
        raise DataError(
            "Nothing to check the module with: pass example_input= (a tensor of one input, C x H x W) "
            "or test_data= (a folder of class folders)."
        )
    tensor = to_tensor([probe])[0] if probe is not None else given
    assert tensor is not None
    if given is not None and tuple(given.shape) != tuple(tensor.shape):
        raise DataError(
            f"The transforms turn {str(probe)!r} into a tensor of shape {tuple(tensor.shape)}, but "
            f"example_input has shape {tuple(given.shape)}: prediction would feed the module inputs it "
            "was not trained on.",
            hint="Give the transforms your evaluation used (resize/center_crop size, normalize).",
        )

    with torch.inference_mode():
        try:
            out = module.eval()(tensor[None])
        except (RuntimeError, ValueError, TypeError, IndexError) as exc:
            raise module_error(module, tensor[None], exc) from exc
    if out.ndim != 2 or out.shape[1] != len(classes):
        raise DataError(
            f"The module gives outputs of shape {tuple(out.shape)} for one image; expected (1, "
            f"{len(classes)}): one per class of classes={list(classes)!r}."
        )
    return list(tensor.shape)


def _write(
    store: Store,
    tmp: Path,
    cfg: Config,
    flavor: Any,
    predictor: Any,
    steps: list[dict[str, Any]],
    shape: list[int],
    train: Labelled | None,
    test: Labelled | None,
    given: Mapping[str, float] | None,
    run_id: str,
) -> VersionRecord:
    from mlpact.data.schema import ColumnSchema, Schema, TargetSchema

    classes = list(predictor.classes_)
    spec = {"type": flavor.model_type(), "kwargs": flavor.kwargs or {}, "task": "classification",
            "classes": classes, "input": "image", "input_shape": shape}  # fmt: skip
    save_module(flavor.rebuilt, tmp, spec)
    files.write_json(tmp / TRANSFORMS_JSON, {"train": None, "predict": steps})
    schema = Schema(
        (ColumnSchema("image", "image", nullable=False),),
        TargetSchema("label", "classification", "category", tuple(classes)),
    )
    files.write_json(tmp / "schema.json", schema.to_dict())
    metrics = _metrics(cfg, predictor, tmp, test, dict(given or {}), train)
    files.write_json(tmp / "metrics.json", finite_json(metrics))
    files.write_bytes(tmp / "config.yaml", cfg.to_yaml().encode())
    named = import_paths(cfg.to_dict())
    lineage = _lineage(cfg, flavor, train, test, named, run_id)
    files.write_json(tmp / "lineage.json", lineage)
    if cfg.record.lock:
        envlock.write(tmp)
    hashes = bundle.hash_files(tmp)

    def finalize(directory: Path, version: int) -> dict[str, Any]:
        return finalize_version(
            directory, version, cfg=cfg, flavor="torch", schema=schema.to_dict(),
            metrics=cast("MetricsFile", metrics), lineage=lineage, hashes=hashes, trusted=[],
        )  # fmt: skip

    return store.register(cfg.name, tmp, finalize, flavor="torch", run_id=run_id, origin=ORIGIN)


def _metrics(
    cfg: Config,
    predictor: Any,
    tmp: Path,
    test: Labelled | None,
    given: dict[str, float],
    train: Labelled | None,
) -> dict[str, Any]:
    """Test metrics scored once on `test_data` (else the ones given), errors.parquet, and the
    reference statistics of `train_data` for `mlpact check`."""

    out: dict[str, Any] = {"task": "classification", "cv": {"folds": 0, "metrics": {}}, "test_scored": 0}
    out["rows"] = {"train": len(train.paths) if train else 0, "test": len(test.paths) if test else 0}
    out["plots"], out["test"] = [], given
    if test is not None:
        import pandas as pd

        names = metrics_for("classification", cfg.evaluate.metrics)
        paths = [str(p) for p in test.paths]
        scored, found = assess(
            predictor, paths, pd.Series(test.labels, dtype=object), names, task="classification"
        )
        out.update(test=scored["metrics"], per_class=scored["per_class"], test_scored=1)
        if given:
            out["given"] = given
        if cfg.evaluate.plots:
            out["plots"] = write_plots(found, tmp / "reports", task="classification")
        digests = _digests(test.paths)
        inspection.write_images(tmp, test.root, {p: "test" for p in test.paths}, digests, test.paths, found)
    if train is not None:
        chosen = sample(train.paths, seed=cfg.seed)
        stats = build_reference(chosen, predictor.predict(chosen), bins=cfg.check.bins)
        files.write_json(tmp / reference.FILE, stats)
    default = primary_metric("classification", cfg.evaluate.primary)
    out["primary"] = default if default in out["test"] or not out["test"] else next(iter(out["test"]))
    return out


def _digests(paths: Sequence[Path]) -> dict[Path, bytes]:
    return {p: hashlib.sha256(p.read_bytes()).digest() for p in paths}


def _fingerprint(found: Labelled) -> str:
    digest = hashlib.sha256()
    for path, label in zip(found.paths, found.labels, strict=True):
        digest.update(f"{path.relative_to(found.root).as_posix()}\0{label}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _lineage(
    cfg: Config, flavor: Any, train: Labelled | None, test: Labelled | None, named: list[str], run_id: str
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "source": cfg.data.source, "split": "given", "classes": list(flavor.classes),
        "fingerprint": _fingerprint(train) if train else None, "rows": (len(train.paths) if train else 0),
        "train_rows": len(train.paths) if train else 0, "test_rows": len(test.paths) if test else 0,
    }  # fmt: skip
    if test is not None:
        data["test_fingerprint"] = _fingerprint(test)
    return {
        "origin": ORIGIN, "data": data, "seed": cfg.seed, "config_hash": cfg.hash(), "run_id": run_id,
        "warnings": [], "timings_s": {}, "git": git_state(Path.cwd()), "code": usercode.describe(named),
        "environment": environment(("torch", "safetensors", "pillow")), "model": flavor.describe(),
    }  # fmt: skip
