"""Your own code used by a version: recorded at save time, checked at load time.

A config can name code from the user's packages (custom transformers in `features.custom`, an
estimator in `model.type`). The version records, per module: its import path, the distribution
that provides it and its version, and the sha256 of its source file. Loading says clearly when
that code is missing, and warns (naming the module) when its source changed since.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import warnings
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from mlpact.errors import CodeChangedWarning, IntegrityError, UntrustedTypesError

# Packages whose code is part of the environment lock, not the user's project.
LIBRARIES = frozenset({"sklearn", "numpy", "scipy", "pandas", "mlpact", "torch", "xgboost", "lightgbm"})


def describe(paths: Iterable[str], *, training: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Module, distribution, version and source sha256 of the user code behind import paths.

    Paths in `training` (code only training runs) are marked ``"use": "training"``: loading a
    version does not import them; `mlpact reproduce` compares their source hashes.
    """
    only = set(training)
    out = []
    for path in dict.fromkeys(paths):
        module_name = _module_of(path)
        if module_name.split(".")[0] in LIBRARIES:
            continue
        module = importlib.import_module(module_name)
        entry = {
            "path": path,
            "module": module_name,
            **_distribution(module_name),
            "sha256": _source_sha(module),
        }
        if path in only:
            entry["use"] = "training"
        out.append(entry)
    return out


def changed(recorded: Iterable[Mapping[str, Any]]) -> list[str]:
    """What differs between recorded code and the code importable here (one line each, sorted)."""
    lines = []
    for entry in recorded:
        module_name = str(entry.get("module"))
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            lines.append(f"{entry.get('path')}: module {module_name!r} cannot be imported here")
            continue
        now = _source_sha(module)
        if entry.get("sha256") and now and now != entry["sha256"]:
            lines.append(
                f"{entry.get('path')}: the source of {module_name} changed (sha256 "
                f"{str(entry['sha256'])[:12]} when trained, {now[:12]} now)"
            )
    return sorted(lines)


def verify(
    recorded: Iterable[Mapping[str, Any]],
    *,
    ref: str,
    named: Iterable[str] | None = None,
    on_change: str = "warn",
) -> None:
    """Check a version's recorded code is importable here; warn (or refuse) when its source changed.

    Args:
        recorded: the ``code`` entries of the version's lineage.
        ref: the version, named in messages.
        named: the import paths trusted for the version (recorded in the store index, plus
            ``--trust``); when given, a recorded module that is not the module of one of them is
            refused before anything is imported (lineage.json is only a file: it must not choose
            what gets imported).
        on_change: ``warn`` or ``error`` (the version's ``code.on_change``).

    Raises:
        IntegrityError: a recorded module is not among the trusted paths, cannot be imported,
            or its source changed and `on_change` is ``error``.
    """
    recorded = list(recorded)
    if not all(isinstance(e, Mapping) and isinstance(e.get("module"), str) for e in recorded):
        raise IntegrityError(f"{ref}: lineage.json has a malformed `code` list; refusing to load it.")
    if named is not None:
        modules = {_module_of(p) for p in named}
        stray = [e for e in recorded if e.get("module") not in modules]
        if stray:  # lineage.json is a file: it must not choose what gets imported
            raise UntrustedTypesError(
                [str(e.get("path") or e["module"]).replace(":", ".") for e in stray],
                file=f"{ref}'s own code (recorded in lineage.json; trusted: the paths its config "
                "names, recorded in the store index, and --trust)",
            )
    for entry in recorded:
        if entry.get("use") == "training":
            continue  # only training runs it; `mlpact reproduce` compares it
        module_name = str(entry["module"])
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            dist = (
                f" (from {entry['distribution']} {entry.get('version')})" if entry.get("distribution") else ""
            )
            raise IntegrityError(
                f"{ref} uses {entry['path']}, but module {module_name!r}{dist} cannot be imported "
                f"here: {exc}.",
                hint="Install the project that provides it (e.g. `pip install -e .` in its folder), "
                "at the version recorded above.",
            ) from None
        now = _source_sha(module)
        if entry.get("sha256") and now and now != entry["sha256"]:
            _code_changed(ref, module_name, str(entry["sha256"]), now, on_change)


def _code_changed(ref: str, module_name: str, saved: str, now: str, on_change: str) -> None:
    text = (
        f"{ref} was saved with a different version of {module_name}: source sha256 {saved} "
        f"when saved, {now} now"
    )
    if on_change == "error":
        raise IntegrityError(
            f"{text}. Refusing to load it (code.on_change: error).",
            hint=f"Restore {module_name} as it was when the version was saved, or retrain "
            "(`mlpact reproduce`) with the code as it is now.",
        )
    warnings.warn(
        f"{text}; predictions may differ. Retrain, or run `mlpact reproduce`, to check.",
        CodeChangedWarning,
        stacklevel=4,
    )


def _module_of(path: str) -> str:
    module, sep, _ = path.partition(":")
    return module if sep else path.rpartition(".")[0]


def _distribution(module_name: str) -> dict[str, str | None]:
    top = module_name.split(".")[0]
    names = metadata.packages_distributions().get(top, [])
    if not names:
        return {"distribution": None, "version": None}
    try:
        return {"distribution": names[0], "version": metadata.version(names[0])}
    except metadata.PackageNotFoundError:
        return {"distribution": names[0], "version": None}


def _source_sha(module: Any) -> str | None:
    """sha256 of the module's source file as it is on disk now (None for built-in modules)."""
    try:
        path = inspect.getsourcefile(module)
        return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else None
    except (OSError, TypeError):
        return None
