"""Data: read a source (sources), split it (split, with the cross-validation folds), type it
(schema), validate frames and records against that type under the policy (validation), describe
it for drift (reference) and guard against leakage (leakage). Knows the config; knows nothing of
pipelines or versions.
"""
