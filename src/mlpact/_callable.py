"""Workload modules that are also the workload's function: ``mlpact.check(...)`` and
``mlpact.check.CheckResult`` both work.

`check`, `reproduce` and `tune` are documented as functions of the package (``mlpact.tune(cfg)``)
and are also the modules that hold them (``mlpact.tune.tune``, ``from mlpact.check import ...``).
A package attribute cannot be both by itself: importing the submodule anywhere (the CLI does)
sets ``mlpact.check`` to the module, replacing a function of that name. So each such module makes
itself callable: calling it calls its function, and ``inspect.signature`` / ``help`` see that
function's signature and docstring.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any


class CallableModule(types.ModuleType):
    """A module that calls its `__call_target__` when called."""

    __call_target__: Callable[..., Any]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__call_target__(*args, **kwargs)

    @property
    def __signature__(self) -> Any:  # read by inspect.signature
        import inspect

        return inspect.signature(self.__call_target__)


def make_callable(module_name: str, function: Callable[..., Any]) -> None:
    """Let the module `module_name` (already in ``sys.modules``) be called as `function`."""
    module = sys.modules[module_name]
    module.__class__ = CallableModule
    module.__call_target__ = function  # type: ignore[attr-defined]
