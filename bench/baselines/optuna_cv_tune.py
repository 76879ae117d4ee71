"""Baseline: the tuning script a user writes without mlpact: Optuna around cross_val_score.

The same search as bench_tune.py's config: digits, 80% training split (stratified, seed 42),
RandomForestClassifier(n_estimators=40), stratified 3-fold CV scored by accuracy, random sampling
of max_depth (int 4..16) and max_features (float 0.1..0.5). Prints the trials per minute from the
study's own timestamps (first trial's start to last trial's end), as the benchmark reads mlpact's.

usage: optuna_cv_tune.py TRIALS JOBS SEED
"""

import sys

import optuna
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split

trials, jobs, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
X, y = load_digits(return_X_y=True, as_frame=True)
X_train, _, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=42, stratify=y)
folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=42)


def objective(trial: optuna.Trial) -> float:
    model = RandomForestClassifier(
        n_estimators=40,
        max_depth=trial.suggest_int("max_depth", 4, 16),
        max_features=trial.suggest_float("max_features", 0.1, 0.5),
        random_state=42,
    )
    return float(cross_val_score(model, X_train, y_train, cv=folds, scoring="accuracy").mean())


optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed))
study.optimize(objective, n_trials=trials, n_jobs=jobs)
start = min(t.datetime_start for t in study.trials)
end = max(t.datetime_complete for t in study.trials)
print(len(study.trials) * 60 / (end - start).total_seconds())
