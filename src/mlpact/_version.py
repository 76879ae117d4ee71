"""The version of mlpact (one place; `mlpact.__version__` and every written file read it here)."""

__version__ = "0.1.0"
