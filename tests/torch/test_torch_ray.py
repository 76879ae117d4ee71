"""mlpact.torch._ray: data-parallel PyTorch training on Ray Train (2 CPU workers, gloo) that
ends as a normal, loadable version recording the engine and every worker's share."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("PIL")
pytest.importorskip("ray.train")

import ray
from test_images import make_shapes

import mlpact
from mlpact.errors import ConfigError
from mlpact.torch import shard


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    """One local Ray for the module (2 CPUs, no dashboard), always shut down."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()


def shapes_config(root: Path, **train: Any) -> dict[str, Any]:
    return {"name": "shapes", "data": {"source": str(root)},
            "model": {"type": "mlpact.torch.models:TinyVGG", "params": {"hidden_units": 4}},
            "train": {"epochs": 2, "batch_size": 4, "transforms": [{"type": "to_tensor"}], "engine": "ray",
                      "workers": 2, **train},
            "evaluate": {"plots": False}}  # fmt: skip


@pytest.mark.parametrize("n, world", [(30, 2), (31, 2), (7, 3), (2, 2)])
def test_shards_are_equal_sized_and_cover_every_row(n: int, world: int) -> None:
    shards = [shard(n, r, world) for r in range(world)]
    assert len({len(s) for s in shards}) == 1  # every rank runs the same number of steps
    assert set().union(*shards) == set(range(n))


@pytest.mark.slow
def test_two_workers_train_a_version_that_loads_and_predicts(tmp_path: Path, ray_session: None) -> None:
    root = make_shapes(tmp_path / "shapes", per_class=12, test_per_class=4, size=16)
    result = mlpact.train(shapes_config(root), store=tmp_path / "store")
    lineage = json.loads((result.path / "lineage.json").read_text())
    training = lineage["training"]
    assert training["engine"] == "ray" and training["workers"] == 2 and training["backend"] == "gloo"
    fit_rows = result.metrics["rows"]["train"]
    assert training["samples_per_worker"] == [15, 15] == [-(-fit_rows // 2)] * 2  # both ranks trained
    assert result.metrics["test_scored"] == 1 and result.metrics["epochs"]["run"] == 2
    assert result.metrics["rows"]["validation"] > 0  # validation carved from train/, as locally
    history = json.loads((result.path / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2] and "val_loss" in history[0]
    model = mlpact.load(result.ref, store=tmp_path / "store")
    images = sorted((root / "test").rglob("*.png"))
    predictions = model.predict([str(p) for p in images])
    assert len(predictions) == len(images) and set(predictions) <= {"circle", "square", "triangle"}
    assert mlpact.load(result.ref, store=tmp_path / "store").config.train.engine == "ray"


def test_resume_is_refused_on_ray(tmp_path: Path) -> None:
    from mlpact.config import load_config

    with pytest.raises(ConfigError, match="train: .*resuming from a checkpoint needs engine: local"):
        load_config(shapes_config(tmp_path, resume=True))


def test_cli_engine_flags_reach_the_config(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from conftest import wine_config, write_config
    from mlpact.cli import app

    config = write_config(tmp_path, wine_config())
    done = CliRunner().invoke(app, ["train", str(config), "--engine", "ray", "--store", str(tmp_path / "s")])
    assert done.exit_code == 3 and "train.engine: ray trains PyTorch models" in done.output
    done = CliRunner().invoke(
        app, ["train", str(config), "--address", "auto", "--store", str(tmp_path / "s")]
    )
    assert done.exit_code == 3 and "--address needs --engine ray" in done.output
    done = CliRunner().invoke(
        app, ["train", str(config), "--engine", "spark", "--store", str(tmp_path / "s")]
    )
    assert done.exit_code == 2 and "expected local or ray" in done.output
