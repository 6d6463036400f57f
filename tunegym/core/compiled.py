"""The switch and the lazy numba import shared by tunegym's compiled CPU kernels
(:mod:`tunegym.core.random`, :mod:`tunegym.simulators.sor_kernel`).

A kernel's torch version stays its reference and the path for GPU tensors. The compiled
path is taken on CPU where numba is importable, unless the environment variable
``TUNEGYM_COMPILED=0`` was set when tunegym was imported (then :data:`ENABLED` is False
and every kernel runs its torch version).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

#: Whether the compiled kernels are used where they can run; read from
#: ``TUNEGYM_COMPILED`` at import.
ENABLED: bool = os.environ.get("TUNEGYM_COMPILED", "1").strip() != "0"


@functools.lru_cache(maxsize=1)
def numba_jit() -> Callable | None:
    """numba's ``njit(cache=True, nogil=True)`` decorator, or None when numba is not
    importable. numba is imported here, on the first call, not when tunegym is imported;
    a decorated function compiles (or loads from numba's on-disk cache) on its first
    call with given argument types."""
    try:
        import numba
    except ImportError:
        return None
    return numba.njit(cache=True, nogil=True)
