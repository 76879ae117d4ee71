"""Shared fixtures: small real data (scikit-learn datasets and generated frames) and stores."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, settings

# Property-based tests: `ci` (the default, `make test`) keeps each property to a few dozen
# examples; `make fuzz` sets HYPOTHESIS_PROFILE=fuzz for thousands.
_QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]
settings.register_profile("ci", max_examples=30, deadline=None, suppress_health_check=_QUIET)
settings.register_profile("fuzz", max_examples=2000, deadline=None, suppress_health_check=_QUIET)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_answers(url: str, proc: subprocess.Popen[bytes], *, timeout: float = 60) -> None:
    """Poll `url` until it answers 200; fail with the server's stderr if the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            raise AssertionError(f"the server exited with {proc.returncode}:\n{err}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout:g} s")


def write_config(folder: Path, data: dict[str, Any], name: str = "config.yaml") -> Path:
    """Write a config mapping as YAML and return its path."""
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def wine_config(**overrides: Any) -> dict[str, Any]:
    """A fast wine classification config (logistic regression, 3 folds)."""
    cfg: dict[str, Any] = {
        "name": "wine",
        "data": {"source": "sklearn:wine", "target": "target"},
        "model": {"type": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 500}},
        "evaluate": {"cv_folds": 3},
    }
    cfg.update(overrides)
    return cfg


def mixed_frame(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """Numbers, a category, a boolean, a date, free text, an id and missing values; binary target."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    color = rng.choice(["red", "green", "blue"], rows)
    flag = rng.random(rows) < 0.5
    words = np.array(
        ["great fast service", "slow and broken again", "ok nothing special", "refund please now"]
    )
    text = [f"{rng.choice(words)} item {i}" for i in range(rows)]
    date = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, rows), unit="D")
    y = np.where(x + (color == "red") * 1.5 + rng.normal(0, 0.5, rows) > 0.5, "yes", "no")
    frame = pd.DataFrame(
        {
            "id": [f"row-{i:05d}" for i in range(rows)],
            "x": x,
            "count": rng.integers(0, 10, rows),
            "color": color,
            "flag": flag,
            "note": text,
            "day": date.strftime("%Y-%m-%d"),
            "label": y,
        }
    )
    frame.loc[rng.random(rows) < 0.05, "x"] = np.nan
    frame.loc[rng.random(rows) < 0.05, "color"] = np.nan
    return frame


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture(scope="session")
def trained_wine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One wine version trained once per session: its store, ref and the raw data."""
    import mlpact

    folder = tmp_path_factory.mktemp("wine")
    config = write_config(folder, wine_config())
    result = mlpact.train(config, store=folder / "store")
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    return {"store": folder / "store", "ref": result.ref, "result": result, "frame": frame}


@pytest.fixture(scope="session")
def trained_mixed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A version trained on the mixed CSV (every kind of column)."""
    import mlpact

    folder = tmp_path_factory.mktemp("mixed")
    frame = mixed_frame()
    frame.to_csv(folder / "mixed.csv", index=False)
    config = write_config(
        folder,
        {
            "name": "mixed",
            "data": {"source": "mixed.csv", "target": "label", "drop": ["id"]},
            "model": {"type": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 1000}},
            "evaluate": {"cv_folds": 3},
        },
    )
    result = mlpact.train(config, store=folder / "store")
    return {"store": folder / "store", "ref": result.ref, "result": result, "frame": frame, "folder": folder}
