"""The `code:` section: what loading a version does when your own code it uses has changed.

Your code is named by `model.type` and `features.custom` (or `trust=` in `mlpact.save`); each
version records, per module, the sha256 of its source. Not part of the config hash: it says how a
trained version is loaded, not how it is trained."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlpact.config._base import Section


class CodeConfig(Section):
    """Your own code used by a version (custom transformers, estimators, torch modules)."""

    on_change: Literal["warn", "error"] = Field(
        "warn",
        description="When a module the version uses has a different source sha256 at load time "
        "than when it was saved: `warn` (CodeChangedWarning) or `error` (refuse to load, exit code 6). "
        "Either way the message names the module and both hashes.",
    )
