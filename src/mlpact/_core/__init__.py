"""Leaves every layer may use: files (JSON, YAML, sha256), the HTML kit, metrics, plots, progress,
lineage (git and environment), a project's source folders and files behind URLs (fsspec).

Nothing here knows about configs, data sets, pipelines or versions.
"""
