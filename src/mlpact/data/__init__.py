"""Data: read a source (sources), split it (split, with the cross-validation folds), type it and
validate input against it (schema), describe it for drift (reference) and guard against leakage
(leakage). Knows the config; knows nothing of pipelines or versions.
"""
