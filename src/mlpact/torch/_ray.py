"""Data-parallel PyTorch training on Ray Train (`train.engine: ray`, `train.workers: N`).

Each worker of a `TorchTrainer` (gloo on CPU, nccl on GPUs) loads the same config's data (the
splits are seeded, so every worker carves the same validation split), takes its shard of the
fitting rows (equal-sized, strided; padded by wrapping so every rank runs the same number of
steps), wraps the module in DistributedDataParallel and runs the same engine loop as a local run:
gradients are averaged across workers every step, so the weights stay identical, every worker
scores the whole validation split and early stopping decides the same way everywhere. Rank 0's
weights and history come back to the driver, which scores the test split once and saves the
version exactly like a local run; the lineage records the engine, the world size and how many
samples each rank trained on.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpact.errors import MissingDependencyError
from mlpact.torch._deps import require
from mlpact.torch.engine import FitResult, fit

if TYPE_CHECKING:
    from mlpact.config import Config
    from mlpact.progress import Progress

torch = require("torch")
WEIGHTS = "weights.pt"
RESULT = "fit.json"


def fit_on_ray(module: Any, cfg: Config, *, progress: Progress) -> tuple[FitResult, dict[str, Any]]:
    """Train `module` in place on `cfg.train.workers` Ray Train workers.

    Uses the running Ray session (e.g. one `mlpact train --address` connected to), else starts a
    local one (``RAY_ADDRESS`` is honoured) and stops it afterwards.

    Returns:
        Rank 0's fit result and what the lineage records (engine, workers, samples per rank).

    Raises:
        MissingDependencyError: ray[train] is not installed.
    """
    ray, trainer_mod = import_ray_train()
    started = not ray.is_initialized()
    if started:
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    storage = Path(tempfile.mkdtemp(prefix="mlpact-ray-train-"))
    try:
        with progress.stage(f"Training on Ray: {cfg.train.workers} data-parallel workers"):
            result = _trainer(trainer_mod, cfg, storage).fit()
        if result.error is not None:
            raise result.error
        with result.checkpoint.as_directory() as folder:
            state = torch.load(Path(folder) / WEIGHTS, map_location="cpu", weights_only=True)
            fitted = json.loads((Path(folder) / RESULT).read_text(encoding="utf-8"))
    finally:
        shutil.rmtree(storage, ignore_errors=True)
        if started:
            ray.shutdown()
    module.load_state_dict(state)
    lineage = fitted.pop("lineage")
    return FitResult(**fitted), lineage


def import_ray_train() -> tuple[Any, Any]:
    try:
        import ray
        import ray.train.torch as trainer_mod
    except ImportError:
        raise MissingDependencyError("ray", extra="ray", feature="train.engine: ray") from None
    return ray, trainer_mod


def _trainer(trainer_mod: Any, cfg: Config, storage: Path) -> Any:
    from ray.train import RunConfig, ScalingConfig

    gpu = cfg.train.device == "cuda"
    return trainer_mod.TorchTrainer(
        _worker,
        train_loop_config={"cfg": cfg},
        scaling_config=ScalingConfig(num_workers=cfg.train.workers, use_gpu=gpu),
        torch_config=trainer_mod.TorchConfig(backend="nccl" if gpu else "gloo"),
        run_config=RunConfig(name="mlpact", storage_path=str(storage)),
    )


def shard(n: int, rank: int, world: int) -> list[int]:
    """Rank `rank`'s indices of `n` rows: strided, padded by wrapping to ceil(n / world) each."""
    per = math.ceil(n / world)
    return [(rank + k * world) % n for k in range(per)]


def _worker(config: dict[str, Any]) -> None:
    """One Ray Train worker: its shard through the engine loop under DDP; rank 0 reports weights."""
    import ray.train
    import ray.train.torch
    import torch.distributed as dist

    from mlpact.torch.parts import class_weights
    from mlpact.torch.saving import build_module
    from mlpact.torch.training import fit_labels, load_data

    cfg: Config = config["cfg"]
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    data = load_data(cfg)
    mine = torch.utils.data.Subset(data.fit, shard(len(data.fit), rank, world))
    torch.manual_seed(cfg.seed)
    module, _ = build_module(cfg.model.type, cfg.model.params, data.shape, near=cfg.base_dir)
    model = ray.train.torch.prepare_model(module)
    weight = class_weights(cfg.train, fit_labels(data.fit), int(data.shape["outputs"]), data.task)
    result = fit(model, mine, data.val, cfg.train, task=data.task, seed=cfg.seed, loss_weight=weight)
    counts = [torch.zeros(1, dtype=torch.long) for _ in range(world)]
    dist.all_gather(counts, torch.tensor([len(mine)], dtype=torch.long))
    if rank != 0:
        ray.train.report({"rank": rank})
        return
    with tempfile.TemporaryDirectory() as folder:
        torch.save(_unwrapped(model).state_dict(), Path(folder) / WEIGHTS)
        lineage = {"engine": "ray", "workers": world, "backend": dist.get_backend(), "device": result.device,
                   "threads": result.threads, "threads_setting": cfg.train.threads, "amp": result.amp,
                   "samples_per_worker": [int(c.item()) for c in counts]}  # fmt: skip
        fitted = {**{k: getattr(result, k) for k in FitResult.__dataclass_fields__}, "lineage": lineage}
        (Path(folder) / RESULT).write_text(json.dumps(fitted, default=str), encoding="utf-8")
        ray.train.report({"rank": rank}, checkpoint=ray.train.Checkpoint.from_directory(folder))


def _unwrapped(model: Any) -> Any:
    return model.module if hasattr(model, "module") else model
