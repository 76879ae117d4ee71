"""Files behind URLs (``s3://bucket/key``, ``gs://...``, ``memory://...``) through fsspec.

Data sources, batch-prediction input and output, ``check`` data and a store's artifact root may
be URLs. Options reach the filesystem from the config (``data.storage_options``), the store's
``store.yaml``, or the standard environment (``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``, ...),
which s3fs reads by itself. fsspec (and s3fs for ``s3://``) are imported only when a URL is used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpact._core import files
from mlpact.errors import DataError, MissingDependencyError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs"}


def is_url(location: str | Path) -> bool:
    """Whether `location` is a URL with a scheme (``s3://...``), not a local path."""
    return isinstance(location, str) and bool(_URL.match(location)) and not location.startswith("file://")


def filesystem(url: str, options: Mapping[str, Any] | None = None) -> tuple[AbstractFileSystem, str]:
    """The fsspec filesystem for `url` and the path inside it.

    Raises:
        MissingDependencyError: fsspec or the scheme's package (s3fs for ``s3://``) is missing.
        DataError: the URL or its options are not valid.
    """
    scheme = url.split("://", 1)[0].lower()
    try:
        import fsspec

        fs, path = fsspec.core.url_to_fs(url, **dict(options or {}))
    except ImportError as exc:
        package = _PACKAGES.get(scheme, "fsspec")
        raise MissingDependencyError(package, extra="remote", feature=f"Reading {scheme}:// URLs") from exc
    except (ValueError, TypeError) as exc:
        raise DataError(
            f"Cannot open {url!r}: {exc}", hint="Check the URL and its storage options."
        ) from None
    return fs, path


def url_sha256(url: str, options: Mapping[str, Any] | None = None) -> str:
    """The sha256 of an object's bytes, streamed: equal to the sha256 of the same file on disk."""

    fs, path = filesystem(url, options)
    try:
        with fs.open(path, "rb") as fh:
            return files.sha256_stream(fh)
    except FileNotFoundError:
        raise DataError(f"Data file {url!r} does not exist.", hint="Check the URL.") from None


def require(url: str, options: Mapping[str, Any] | None = None, *, what: str = "Data file") -> None:
    """Raise a DataError naming `url` unless it exists."""
    fs, path = filesystem(url, options)
    try:
        found = fs.exists(path)
    except OSError as exc:  # no such bucket, no credentials, endpoint down
        raise DataError(
            f"Cannot reach {url!r}: {exc}", hint="Check the URL, credentials and endpoint."
        ) from None
    if not found:
        raise DataError(f"{what} {url!r} does not exist.", hint="Check the URL.")


def upload(local: Path, url: str, options: Mapping[str, Any] | None = None) -> None:
    """Copy a finished local file to `url` in one PUT (an object appears whole or not at all)."""
    fs, path = filesystem(url, options)
    try:
        fs.put_file(str(local), path)
    except OSError as exc:
        raise DataError(
            f"Cannot write {url!r}: {exc}", hint="Check the URL, credentials and endpoint."
        ) from None
