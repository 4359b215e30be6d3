"""One BLAS thread for the index's dense searches (OpenBLAS, where it can be told).

A dense search is one float32 matrix-vector product over the tenant's vectors: bound by
memory bandwidth, not arithmetic. OpenBLAS splits it over every core anyway, and on a
busy machine (or beside the keyword side of a hybrid search, which runs at the same
time) its threads wait on each other: measured on 2 cores under load, 100k x 384 took
17 ms p50 / 23 ms p95 with two threads against 13 / 18 ms with one, and the same ~8 ms
on an idle machine. OpenBLAS >= 0.3.27 can limit only the calling thread
(``openblas_set_num_threads_local``), so the index's own worker threads call this once
when they start; nothing else in the process is affected. Elsewhere (another BLAS, no
such symbol) it does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import logging
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


def limit_this_thread() -> None:
    """Use one BLAS thread in the calling thread, if the loaded BLAS supports that."""
    setter = _local_thread_setter()
    if setter is not None:
        setter(1)


@functools.cache
def _local_thread_setter() -> Callable[[int], int] | None:
    import numpy  # noqa: F401  (loads numpy's BLAS, the library to find)

    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    seen: set[str] = set()
    for line in maps.splitlines():
        path = line.rsplit(" ", 1)[-1]
        if path in seen or "openblas" not in Path(path).name.lower():
            continue
        seen.add(path)
        try:
            setter = ctypes.CDLL(path).openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
        setter.argtypes = [ctypes.c_int]
        setter.restype = ctypes.c_int
        log.debug("index searches use one OpenBLAS thread (%s)", path)
        return setter
    return None
