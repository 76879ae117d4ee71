"""Finalizing a version: what names it (card.md, report.html, then manifest.json, last), written
inside the store's transaction. Every flavor (scikit-learn and PyTorch trainings, `mlpact.save`)
is finalized here, the one way."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpact._core import files
from mlpact._core.metrics import MetricsFile, finite_json
from mlpact._version import __version__
from mlpact.config import Config, import_paths
from mlpact.store import now
from mlpact.version import bundle
from mlpact.version.report import model_card, render_html

if TYPE_CHECKING:
    from mlpact.config import Config


def finalize_version(
    directory: Path,
    version: int,
    *,
    cfg: Config,
    flavor: str,
    schema: dict[str, Any],
    metrics: MetricsFile,
    lineage: dict[str, Any],
    hashes: dict[str, str],
    trusted: list[str],
    trust: Iterable[str] = (),
) -> dict[str, Any]:
    """Write what names the version (card.md, report.html, then manifest.json, last) inside the
    store's transaction, and return the fields the index records (every flavor saves this way).

    The index records the import paths deserialisation may trust (those the config names, plus
    `trust`, given explicitly), so loading never takes them from the version's files alone."""
    meta = {"name": cfg.name, "version": version, "flavor": flavor, "created": now(),
            "mlpact_version": __version__, "trusted_types": trusted}  # fmt: skip
    finite = finite_json(metrics)
    files.write_bytes(directory / "card.md", model_card(meta, schema, finite, lineage, cfg).encode())
    page = render_html(meta, schema, finite, lineage, cfg, reports=directory / "reports")
    files.write_bytes(directory / "report.html", page.encode())
    written = {n: files.sha256_file(directory / n) for n in ("card.md", "report.html")}
    bundle.write_manifest(directory, meta, {**hashes, **written})
    primary = metrics["primary"]
    return {
        "digest": bundle.manifest_digest(directory),
        "config_hash": lineage["config_hash"],
        "data_fingerprint": lineage["data"]["fingerprint"],
        "metric_name": primary,
        "metric_value": metrics["test"].get(primary),
        "trusted_types": trusted,
        "trusted_paths": sorted({*import_paths(cfg.to_dict()), *trust}),
    }


def _now() -> str:

    return now()
