"""A TinyVGG search written by hand: Optuna around the plain going-modular loop, no mlpact.

What a course user writes: the ImageFolder / TinyVGG / train_step of going_modular_train.py, a
validation split carved from train/ (every fifth image of each class), and an objective that
trains, scores the validation split after every epoch and reports it to Optuna's pruner. Prints
JSON: trials per minute from the study's own timestamps (first trial's start to last trial's
end), as bench_torch_tune reads mlpact's study.

    python optuna_tinyvgg.py DATA_DIR --trials 6 --epochs 2 --seed 0
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import optuna
import torch
from going_modular_train import ImageFolder, TinyVGG, train_step
from torch import nn
from torch.utils.data import DataLoader, Subset


def split(data: ImageFolder) -> tuple[list[int], list[int]]:
    """Every fifth image of each class for validation, the rest for fitting."""
    fit, val = [], []
    for label in range(len(data.classes)):
        members = [i for i, (_, y) in enumerate(data.items) if y == label]
        val += members[::5]
        fit += [i for i in members if i not in set(members[::5])]
    return fit, val


def accuracy(model: nn.Module, loader: DataLoader) -> float:
    model.eval()
    right = seen = 0
    with torch.inference_mode():
        for X, y in loader:
            right += int((model(X).argmax(dim=1) == y).sum())
            seen += len(y)
    return right / seen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = ImageFolder(Path(args.data) / "train", 32)
    fit_at, val_at = split(data)

    def objective(trial: optuna.Trial) -> float:
        # the order mlpact suggests in (sorted key paths), so the seeded sampler draws the same values
        hidden = trial.suggest_int("hidden_units", 4, 12)
        batch = trial.suggest_categorical("batch_size", [16, 32])
        lr = trial.suggest_float("lr", 0.0005, 0.01, log=True)
        torch.manual_seed(args.seed)
        model = TinyVGG(3, hidden, len(data.classes))
        model.classifier[1] = nn.Linear(hidden * 5 * 5, len(data.classes))  # 32 px in, not 64
        fit = DataLoader(Subset(data, fit_at), batch_size=batch, shuffle=True)
        val = DataLoader(Subset(data, val_at), batch_size=batch)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        score = 0.0
        for epoch in range(args.epochs):
            train_step(model, fit, nn.CrossEntropyLoss(), optimizer, "cpu")
            score = accuracy(model, val)
            trial.report(score, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return score

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=args.seed),
        pruner=optuna.pruners.NopPruner(),
    )
    study.optimize(objective, n_trials=args.trials)
    start = min(t.datetime_start for t in study.trials)
    end = max(t.datetime_complete for t in study.trials)
    rate = len(study.trials) * 60 / (end - start).total_seconds()
    print(json.dumps({"trials_per_min": rate, "params": [t.params for t in study.trials]}))


if __name__ == "__main__":
    main()
