"""Paper tables: ``tunegym reproduce ENV_ID`` runs a family's agents and baselines on the
test split and writes the family's table, results and plot.

A family's reproduction lives in ``tunegym.reproduce.<family>`` (the family record's
``name``) and has ``compare(env_id, seed, device, output_dir, **overrides) -> dict``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from tunegym.core.registration import env_class


def reproduction_module(env_id: str) -> ModuleType:
    """The reproduction module of ``env_id``'s family.

    Raises:
        ValueError: naming the id when it is not registered or its family has none.
    """
    family = env_class(env_id).family
    try:
        return importlib.import_module(f"tunegym.reproduce.{family}")
    except ModuleNotFoundError as error:
        if error.name != f"tunegym.reproduce.{family}":
            raise
        raise ValueError(f"env_id {env_id!r}: family {family!r} has no reproduction "
                         f"(tunegym.reproduce.{family})") from None
