"""The `code:` section: which of your own classes a version's pipeline may hold, and what loading
it does when that code has changed.

Your code is named by `model.type` and `features.custom` (or `trust=` in `mlpact.save`), plus
`code.trust` for the other classes and functions your steps keep inside the fitted pipeline; the
store's index records these exact names and loading trusts nothing else of yours. Each version
records, per module, the sha256 of its source. Not part of the config hash: it says how a trained
version is saved and loaded, not how it is trained."""

from __future__ import annotations

import re
from typing import Literal

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
