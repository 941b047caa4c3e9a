"""Python's cyclic garbage collector paused while a process imports its large packages, then their objects frozen.

Importing dagster, the definitions, great_expectations and the run libraries makes about half a million
objects. The collector runs every 700 new objects and, every so often, walks all of them: about 0.5 s of CPU
during those imports, and more in every later collection of a run that executes in the process or in a fork
of it. `gc.freeze()` moves the objects alive at that point out of the collector's reach; forked runs inherit
that, and a collection in a fork no longer writes to (and so copies) the pages those objects live on.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collection_paused(*, freeze: bool = False) -> Iterator[None]:
    """Within the block the collector does not run; on leaving it, with `freeze`, every object alive is frozen
    (cycles that became garbage inside the block stay: after imports, a few MB at most)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if enabled:
            gc.enable()
