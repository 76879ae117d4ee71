"""Loading a version: every file's sha256 checked, the trust rule applied, the flavor's loader run."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mlpact import torch as torch_flavor
from mlpact._core import files
from mlpact._core.lineage import package_versions
from mlpact._core.project import add_project_paths
from mlpact._core.startup import starting_up
from mlpact.errors import LibraryVersionError, MlpactError
from mlpact.store import Store
from mlpact.version import bundle, usercode
from mlpact.version import trust as trust_rule
from mlpact.version.model import Model


def load(
    ref: str | Path,
    *,
    store: str | Path | Store | None = None,
    trust: Iterable[str] = (),
) -> Model:
    """Load a version after checking every file's sha256.

    Args:
        ref: ``name`` (latest), ``name:3``, ``name@alias``, or the path of a version folder.
        store: the store to resolve names in (default ``$MLPACT_HOME`` or ``./.mlpact``).
        trust: extra type names to trust when deserialising (use only for files you trust).

    Raises:
        NotFoundError: no such model, version or alias.
        IntegrityError: a file changed, is missing, or the manifest differs from the digest the
            index recorded; code the version uses changed and its `code.on_change` is `error`.
        UntrustedTypesError: the pipeline needs a type that is not trusted (see `mlpact.version.trust`).
    """
    with starting_up(freeze=False):  # a model is long-lived objects, no garbage to look for
        return _load(ref, store=store, trust=trust)


def _load(ref: str | Path, *, store: str | Path | Store | None, trust: Iterable[str]) -> Model:
    text = str(ref)
    if isinstance(ref, Path) or "/" in text or "\\" in text or text.startswith("."):
        directory = Path(ref).expanduser().resolve()
        record = trust_rule.record_of(directory)  # a folder of a store answers to its index
    else:
        st = Store.open(store)
        record = st.resolve(text)
        directory = st.local_dir(record)
    manifest = bundle.verify(directory)
    if record is not None:
        trust_rule.check_digest(record, directory)
    add_project_paths(Path.cwd())
    config = bundle.read_config(directory)
    named = trust_rule.trusted_paths(record, config)
    lineage = files.read_mapping(directory, "lineage.json")
    on_change = str((config.get("code") or {}).get("on_change", "warn"))
    ident = f"{manifest.get('name')}:{manifest.get('version')}"
    usercode.verify(lineage.get("code") or [], ref=ident, named=[*named, *trust], on_change=on_change)
    if manifest.get("flavor") == "torch":
        return torch_flavor.load_version(  # type: ignore[no-any-return]
            directory, manifest, record=record, raw_config=config, lineage=lineage, trust=trust, allowed=named
        )
    try:
        pipeline = bundle.load_pipeline(directory, trusted=trust_rule.extra_types(record, named, trust))
    except MlpactError:
        raise
    except Exception as exc:  # the libraries installed here cannot rebuild what was saved
        saved = Model(directory, manifest, None, record=record, raw_config=config, lineage=lineage)
        packages = (saved.lineage.get("environment") or {}).get("packages") or {}
        raise LibraryVersionError(
            saved,
            exc,
            saved_with=packages.get("scikit-learn") or "an unrecorded version",
            installed=package_versions(("scikit-learn",))["scikit-learn"] or "none",
        ) from exc
    return Model(directory, manifest, pipeline, record=record, raw_config=config, lineage=lineage)
