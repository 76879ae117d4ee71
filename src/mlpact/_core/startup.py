"""Start-up without the cyclic garbage collector: imports and loading a model make millions of
long-lived objects and almost no garbage, which the collector would walk again and again."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def starting_up(*, freeze: bool = True) -> Iterator[None]:
    """Start a server (or load a model) without the cyclic garbage collector, then set aside
    what start-up made.

    Start-up imports scikit-learn, pandas and FastAPI and loads a model: a few million objects,
    almost none of them garbage, which the collector walks again and again as they are created
    (measured on `mlpact serve`: ~450 young and 3 full collections, about 13% of the time to
    the first answer, the same share for a hand-written FastAPI app). Afterwards `gc.freeze()`
    moves those long-lived objects out of the collector's view, so that collections while
    serving do not walk them either (`freeze=False`: a process that does more than serve, or
    `mlpact.load`, which loads every model this way and freezes nothing).
    A failed start-up only turns the collector back on.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        if freeze:
            gc.freeze()
    finally:
        if enabled:
            gc.enable()
