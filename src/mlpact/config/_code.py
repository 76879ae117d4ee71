"""The `code:` section: which of your own classes a version's pipeline may hold, and what loading
it does when that code has changed.

Your code is named by `model.type` and `features.custom` (or `trust=` in `mlpact.save`), plus
`code.trust` for the other classes and functions your steps keep inside the fitted pipeline; the
store's index records these exact names and loading trusts nothing else of yours. Each version
records, per module, the sha256 of its source. Not part of the config hash: it says how a trained
version is saved and loaded, not how it is trained."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator

from mlpact.config._base import Section


class CodeConfig(Section):
    """Your own code used by a version (custom transformers, estimators, torch modules)."""

    on_change: Literal["warn", "error"] = Field(
        "warn",
        description="When a module the version uses has a different source sha256 at load time "
        "than when it was saved: `warn` (CodeChangedWarning) or `error` (refuse to load, exit code 6). "
        "Either way the message names the module and both hashes.",
    )

    trust: list[str] = Field(
        default_factory=list,
        description="Exact import paths (`mypkg.features:Helper`) of your own classes or functions "
        "that your custom steps keep inside the fitted pipeline, beyond the classes `model.type` and "
        "`features.custom` name. Saving refuses a pipeline holding any other class of yours (naming "
        "it); the store's index records these names and loading trusts exactly them. A whole "
        "module or package is never trusted.",
    )

    @field_validator("trust")
    @classmethod
    def _exact_paths(cls, paths: list[str]) -> list[str]:
        bad = [p for p in paths if not _PATH.fullmatch(p)]
        if bad:
            raise ValueError(f"expected import paths like 'mypkg.module:Name', got {sorted(bad)!r}")
        return paths


_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*[.:][A-Za-z_]\w*")


# --------------------------------------------------------------------------- import paths
def import_paths(config: Mapping[str, Any]) -> list[str]:
    """The import paths a config (as saved, plain data) names: model.type, features.custom types
    and code.trust, and, for PyTorch, the `train:` optimizer, loss, scheduler, callbacks and your
    own transforms.

    This is the list that extends trust when a version is loaded (its packages' types may be
    deserialised) and the only code loading may import. Names in the standard library
    (``os.system``, ``subprocess:Popen``, ``builtins.eval``) are left out: no estimator or
    transformer lives there, and a config from elsewhere must not widen trust to them.
    """
    model = config.get("model")
    features = config.get("features")
    paths = [model.get("type")] if isinstance(model, Mapping) else []
    custom = features.get("custom") if isinstance(features, Mapping) else None
    if isinstance(custom, list):
        paths += [step.get("type") for step in custom if isinstance(step, Mapping)]
    code = config.get("code")
    extra = code.get("trust") if isinstance(code, Mapping) else None
    if isinstance(extra, list):
        paths += extra
    paths += list(_train_paths(config))
    return list(dict.fromkeys(p for p in paths if isinstance(p, str) and p and not _in_stdlib(p)))


def training_only(config: Mapping[str, Any]) -> set[str]:
    """The import paths a config names that only training runs (the PyTorch optimizer, loss,
    scheduler, callbacks and random transforms): a loaded version never imports them."""
    return {path for path, only in _train_paths(config).items() if only}


def _train_paths(config: Mapping[str, Any]) -> dict[str, bool]:
    """Import paths in the `train:` section (built-in names have no dot or colon), each with
    whether only training uses it."""
    train = config.get("train")
    if not isinstance(train, Mapping):
        return {}
    found: dict[str, bool] = {}
    for key in ("optimizer", "loss", "scheduler"):
        found[str(train.get(key))] = True
    for key in ("transforms", "callbacks"):
        steps = train.get(key)
        for step in steps if isinstance(steps, list) else []:
            if isinstance(step, Mapping):
                only = key == "callbacks" or bool(step.get("random"))
                path = str(step.get("type"))
                found[path] = found.get(path, True) and only
    return {p: only for p, only in found.items() if "." in p or ":" in p}


def _in_stdlib(path: str) -> bool:
    import sys

    top = path.replace(":", ".").split(".")[0]
    return top in sys.stdlib_module_names or top in sys.builtin_module_names
