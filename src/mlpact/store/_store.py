"""The `Store` class, assembled from one class per family: versions (_versions.py), aliases
(_aliases.py), runs and evaluations (_runs.py), over the connection handling of _db.py."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from mlpact.store._aliases import Aliases
from mlpact.store._db import DEFAULT_DIR, ENV_VAR
from mlpact.store._rebuild import Rebuilding
from mlpact.store._runs import Runs


class Store(Runs, Aliases, Rebuilding):
    """A store rooted at a folder: ``mlpact.db`` plus ``models/NAME/VERSION/`` folders."""

    @classmethod
    def open(cls, root: str | Path | Store | None = None) -> Store:
        """The store at `root`, else ``$MLPACT_HOME``, else ``./.mlpact``.

        A folder with a ``store.yaml`` naming an artifact root URL opens as a team store
        (:class:`mlpact.store.RemoteStore`, see docs/store.md): every subclass names the file
        that marks its folders (`MARKER`) and opens one (`at`).
        """
        if isinstance(root, Store):
            return root
        if root is None:
            root = os.environ.get(ENV_VAR) or DEFAULT_DIR
        folder = Path(root).expanduser().resolve()
        for kind in Store.__subclasses__():  # a team store: artifacts and registry in a bucket
            if (folder / kind.MARKER).is_file():
                return kind.at(folder)
        return cls(root)

    # A subclass whose folders carry this file opens them with `at` (see `open`).
    MARKER: ClassVar[str] = ""

    @classmethod
    def at(cls, folder: Path) -> Store:
        """The store of this kind in `folder` (which holds its MARKER file)."""
        return cls(folder)
