"""The training loop: `train_step` and `test_step` as in the course's engine.py, and `fit`, which
adds what a run needs: history, early stopping on the validation split, a checkpoint per epoch,
resuming, seeded determinism, device choice, mixed precision and DataLoader settings."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpact.errors import UserCodeError
from mlpact.progress import Progress, Silent
from mlpact.torch._deps import require
from mlpact.torch.parts import Callback, Schedule, make_callbacks, make_loss, make_optimizer, make_scheduler

if TYPE_CHECKING:
    from mlpact.config._train import TrainConfig

torch = require("torch")

History = list[dict[str, Any]]


# --------------------------------------------------------------------------- settings
def select_device(requested: str = "auto") -> Any:
    """`auto`: cuda, then mps, then cpu; an explicit device must be available.

    Raises:
        ConfigError: the requested device is not available here.
    """
    from mlpact.errors import ConfigError

    mps = getattr(torch.backends, "mps", None)
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": bool(mps and mps.is_available())}
    if requested == "auto":
        return torch.device(next(d for d in ("cuda", "mps", "cpu") if available[d]))
    if not available[requested]:
        here = ", ".join(d for d, ok in available.items() if ok)
        raise ConfigError(
            [f"train.device: {requested!r} is not available on this machine (available: {here})"]
        )
    return torch.device(requested)


@contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    """Use `threads` CPU threads inside the block (None: as torch decides); yields the count used."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        if threads is not None:
            torch.set_num_threads(before)


def make_loader(
    data: Any, train: TrainConfig, device: Any, *, shuffle: bool, seed: int = 0, epoch: int = 0
) -> Any:
    """A DataLoader whose order depends only on (seed, epoch): the same on every run and resume."""
    if hasattr(data, "epoch"):
        data.epoch = epoch
    generator = torch.Generator()
    generator.manual_seed(seed * 1_000_003 + epoch)
    pin = train.pin_memory if train.pin_memory is not None else device.type == "cuda"
    return torch.utils.data.DataLoader(
        data,
        batch_size=train.batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=train.num_workers,
        pin_memory=pin,
    )


# --------------------------------------------------------------------------- one epoch
@dataclass
class Step:
    """What one pass over a loader measured."""

    loss: float
    accuracy: float | None
    samples: int


def _autocast(device: Any, amp: bool) -> AbstractContextManager[Any]:
    if amp and device.type == "cuda":
        context: AbstractContextManager[Any] = torch.autocast(device_type="cuda", dtype=torch.float16)
        return context
    return nullcontext()


def _batch_loss(model: Any, X: Any, y: Any, loss_fn: Any, task: str) -> tuple[Any, Any]:
    try:
        out = model(X)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        raise module_error(model, X, exc) from exc
    try:
        if task != "classification":
            out = out.reshape(y.shape)
        return loss_fn(out, y), out
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        raise _loss_error(loss_fn, out, y, task, exc) from exc


def _shape(tensor: Any) -> str:
    return f"{tuple(tensor.shape)} ({str(tensor.dtype).removeprefix('torch.')})"


def module_error(model: Any, X: Any, exc: BaseException) -> UserCodeError:
    """A module's forward failing on a batch: the user's error, with the module and the shapes."""
    cls = type(
        model.module if hasattr(model, "module") and isinstance(model.module, torch.nn.Module) else model
    )
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    hint = (
        "Lower train.batch_size (or the input size)."
        if "out of memory" in text
        else "This is an error in the module, not in mlpact: its layers do not fit this input. The "
        "input shape comes from train.transforms (images: channels x height x width) or the "
        "table's features; check the sizes the module computes from model.params."
    )
    return UserCodeError(
        f"{cls.__module__}:{cls.__qualname__} raised {type(exc).__name__} in forward() on a batch of "
        f"inputs of shape {_shape(X)}: {text}",
        hint=hint,
    )


def _loss_error(loss_fn: Any, out: Any, y: Any, task: str, exc: BaseException) -> UserCodeError:
    expected = "one column per class" if task == "classification" else "one value per row"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return UserCodeError(
        f"The loss {type(loss_fn).__qualname__} failed on the module's outputs of shape {_shape(out)} "
        f"and targets of shape {_shape(y)}: {type(exc).__name__}: {text}",
        hint=f"For {task}, the module's output needs {expected}; check its last layer "
        "(and train.loss, when it is your own).",
    )


def _correct(out: Any, y: Any, task: str) -> int:
    return int((out.argmax(dim=1) == y).sum().item()) if task == "classification" else 0


def train_step(
    model: Any,
    loader: Any,
    loss_fn: Any,
    optimizer: Any,
    device: Any,
    *,
    task: str = "classification",
    scaler: Any = None,
    grad_clip: float | None = None,
    on_batch: Callable[[int], None] = lambda n: None,
    after_batch: Callable[[], None] | None = None,
) -> Step:
    """One epoch of training: forward, loss, backward, (clip), step, then `after_batch` (a per-step
    learning-rate schedule). Returns mean loss and accuracy."""
    model.train()
    total, correct, seen = 0.0, 0, 0
    for X, y in loader:
        X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with _autocast(device, scaler is not None):
            loss, out = _batch_loss(model, X, y, loss_fn, task)
        optimizer.zero_grad(set_to_none=True)
        _backward(loss, model, optimizer, scaler, grad_clip)
        if after_batch is not None:
            after_batch()
        total += float(loss.item()) * len(y)
        correct += _correct(out, y, task)
        seen += len(y)
        on_batch(1)
    return Step(total / max(seen, 1), correct / max(seen, 1) if task == "classification" else None, seen)


def _backward(loss: Any, model: Any, optimizer: Any, scaler: Any, grad_clip: float | None) -> None:
    if scaler is None:
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        return
    scaler.scale(loss).backward()
    if grad_clip:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()


def test_step(model: Any, loader: Any, loss_fn: Any, device: Any, *, task: str = "classification") -> Step:
    """One pass without gradients: mean loss and accuracy."""
    model.eval()
    total, correct, seen = 0.0, 0, 0
    with torch.inference_mode():
        for X, y in loader:
            X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss, out = _batch_loss(model, X, y, loss_fn, task)
            total += float(loss.item()) * len(y)
            correct += _correct(out, y, task)
            seen += len(y)
    return Step(total / max(seen, 1), correct / max(seen, 1) if task == "classification" else None, seen)


# --------------------------------------------------------------------------- the loop
# Called after every epoch with its history row and the model (tuning reports to its pruner so).
EpochHook = Callable[[Mapping[str, Any], Any], Any]


@dataclass
class FitResult:
    """Per-epoch history, the epoch whose weights were kept, why training stopped, and how it ran."""

    history: History
    best_epoch: int
    stopped_early: bool
    resumed_from: int
    device: str
    amp: bool
    seconds: float
    samples_per_s: float
    timings: dict[str, float] = field(default_factory=dict)
    threads: int = 0
    stopped_by: str | None = None


@dataclass
class _State:
    """Everything a checkpoint holds."""

    epoch: int = 0
    history: History = field(default_factory=list)
    best_score: float = math.inf
    best_epoch: int = 0
    best_weights: dict[str, Any] | None = None
    bad_epochs: int = 0


@dataclass
class _Tools:
    """What every epoch uses: the optimizer, the schedule, the gradient scaler and the loss."""

    optimizer: Any
    schedule: Schedule | None
    scaler: Any
    loss_fn: Any


def fit(
    model: Any,
    train_data: Any,
    val_data: Any | None,
    train: TrainConfig,
    *,
    task: str = "classification",
    seed: int = 0,
    checkpoint: Path | None = None,
    progress: Progress | None = None,
    loss_weight: Any = None,
    on_epoch: Sequence[EpochHook] = (),
) -> FitResult:
    """Train `model` in place for `train.epochs` epochs (fewer if early stopping or a callback says so).

    Args:
        model: the module; moved to the selected device.
        train_data: a Dataset of (input, target) for fitting.
        val_data: the validation split carved from training data (None or empty: none).
        train: the `train:` config section.
        checkpoint: a file written after every epoch; read first when `train.resume` is set.
        loss_weight: the class weights of the loss (see `mlpact.torch.parts.class_weights`).
        on_epoch: called as ``hook(row, model)`` after every epoch, after `train.callbacks`
            (which are called with the row); one returning True stops training.

    Returns:
        The history (loss, accuracy, validation loss and accuracy, learning rate, seconds per epoch).
    """
    progress = progress or Silent()
    device = select_device(train.device)
    callbacks = make_callbacks(train.callbacks)
    with torch_threads(train.threads) as threads:
        model.to(device)
        optimizer = make_optimizer(model, train)
        steps = max(1, math.ceil(len(train_data) / train.batch_size))
        weight = loss_weight.to(device) if loss_weight is not None else None
        tools = _Tools(
            optimizer,
            make_scheduler(optimizer, train, steps),
            torch.amp.GradScaler("cuda") if train.amp and device.type == "cuda" else None,
            make_loss(train, task, weight),
        )
        state = _State()
        if train.resume and checkpoint is not None and checkpoint.is_file():
            state = _load_checkpoint(checkpoint, model, optimizer, tools.schedule, device)
        resumed_from = state.epoch
        has_val = val_data is not None and len(val_data) > 0
        start, samples, stopped_by = time.perf_counter(), 0, None
        for epoch in _epochs(state, train, has_val):
            torch.manual_seed(seed * 7919 + epoch)
            row = _one_epoch(model, train_data, val_data, train, task, seed, epoch, device, tools, progress)
            samples += row.pop("samples")
            _remember(state, row, model, train, has_val)
            stopped_by = _stopper(callbacks, on_epoch, row, model)
            if checkpoint is not None and train.checkpoints:
                _save_checkpoint(checkpoint, state, model, optimizer, tools.schedule)
            if stopped_by:
                break
        if has_val and train.restore_best and state.best_weights is not None:
            model.load_state_dict(state.best_weights)
    seconds = time.perf_counter() - start
    if stopped_by is None and state.epoch < train.epochs:
        stopped_by = f"no validation improvement for {train.patience} epochs (train.patience)"
    return FitResult(
        state.history,
        state.best_epoch or state.epoch,
        state.epoch < train.epochs,
        resumed_from,
        str(device),
        tools.scaler is not None,
        seconds,
        samples / seconds if seconds and samples else 0.0,
        threads=threads,
        stopped_by=stopped_by,
    )


def _stopper(
    callbacks: Sequence[Callback], hooks: Sequence[EpochHook], row: Mapping[str, Any], model: Any
) -> str | None:
    """Call every callback and hook; who asked to stop first (all are called)."""
    asked = [f"callback {c.path}" for c in callbacks if c(row)]
    asked += [f"{getattr(h, '__qualname__', 'on_epoch')}" for h in hooks if h(row, model) is True]
    return asked[0] if asked else None


def _epochs(state: _State, train: TrainConfig, has_val: bool) -> Iterator[int]:
    while state.epoch < train.epochs:
        if has_val and train.patience is not None and state.bad_epochs >= train.patience:
            return
        yield state.epoch + 1


def _one_epoch(
    model: Any,
    train_data: Any,
    val_data: Any,
    train: TrainConfig,
    task: str,
    seed: int,
    epoch: int,
    device: Any,
    tools: _Tools,
    progress: Progress,
) -> dict[str, Any]:
    started = time.perf_counter()
    lr = float(tools.optimizer.param_groups[0]["lr"])
    loader = make_loader(train_data, train, device, shuffle=True, seed=seed, epoch=epoch)
    after = tools.schedule.after_batch if tools.schedule is not None and tools.schedule.per_step else None
    with progress.bar(f"Epoch {epoch}/{train.epochs}", len(loader)) as advance:
        fitted = train_step(model, loader, tools.loss_fn, tools.optimizer, device, task=task,
                            scaler=tools.scaler, grad_clip=train.grad_clip, on_batch=advance,
                            after_batch=after)  # fmt: skip
    row: dict[str, Any] = {"epoch": epoch, "loss": fitted.loss, "accuracy": fitted.accuracy}
    if val_data is not None and len(val_data) > 0:
        checked = test_step(
            model, make_loader(val_data, train, device, shuffle=False), tools.loss_fn, device, task=task
        )
        row.update(val_loss=checked.loss, val_accuracy=checked.accuracy)
    row["lr"] = lr
    if tools.schedule is not None:
        tools.schedule.after_epoch(row.get("val_loss", row["loss"]))
    row["seconds"] = round(time.perf_counter() - started, 4)
    with progress.stage(_describe(row, train.epochs)):
        pass
    return {**row, "samples": fitted.samples}


def _describe(row: dict[str, Any], epochs: int) -> str:
    parts = [f"Epoch {row['epoch']}/{epochs}: loss {row['loss']:.4f}"]
    if row.get("accuracy") is not None:
        parts.append(f"acc {row['accuracy']:.3f}")
    if "val_loss" in row:
        parts.append(f"| val loss {row['val_loss']:.4f}")
        if row.get("val_accuracy") is not None:
            parts.append(f"val acc {row['val_accuracy']:.3f}")
    return " ".join(parts)


def _remember(state: _State, row: dict[str, Any], model: Any, train: TrainConfig, has_val: bool) -> None:
    state.epoch = row["epoch"]
    state.history.append(row)
    if not has_val:
        return
    score = (
        -row["val_accuracy"]
        if train.monitor == "val_accuracy" and row["val_accuracy"] is not None
        else row["val_loss"]
    )
    if score < state.best_score:
        state.best_score, state.best_epoch, state.bad_epochs = score, row["epoch"], 0
        state.best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    else:
        state.bad_epochs += 1


# --------------------------------------------------------------------------- checkpoints
def _save_checkpoint(
    path: Path, state: _State, model: Any, optimizer: Any, schedule: Schedule | None
) -> None:
    """Write the checkpoint atomically (a crash mid-write leaves the previous one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "epoch": state.epoch,
        "history": state.history,
        "best_score": state.best_score,
        "best_epoch": state.best_epoch,
        "best_weights": state.best_weights,
        "bad_epochs": state.bad_epochs,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": schedule.scheduler.state_dict() if schedule is not None else None,
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(data, tmp)
    os.replace(tmp, path)


def _load_checkpoint(
    path: Path, model: Any, optimizer: Any, schedule: Schedule | None, device: Any
) -> _State:
    """Restore a checkpoint (tensors and plain data only: `weights_only=True`, no pickled code)."""
    data = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(data["model"])
    optimizer.load_state_dict(data["optimizer"])
    if schedule is not None and data["scheduler"] is not None:
        schedule.scheduler.load_state_dict(data["scheduler"])
    return _State(
        data["epoch"], list(data["history"]), float(data["best_score"]), int(data["best_epoch"]),
        data["best_weights"], int(data["bad_epochs"]),
    )  # fmt: skip
