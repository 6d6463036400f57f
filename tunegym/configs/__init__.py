"""The shipped experiment configs (YAML): the only place hyperparameters live.

The repository's ``configs/`` folder is a link to this package's folder, so a checkout
and an installed package read the same files. :func:`config_path` finds one by name.
"""

from __future__ import annotations

from pathlib import Path

from tunegym.core.batched import did_you_mean

FOLDER = Path(__file__).resolve().parent


def config_names() -> list[str]:
    """Names (file stems) of the shipped configs, sorted."""
    return sorted(path.stem for path in FOLDER.glob("*.yaml"))


def config_path(name: str) -> Path:
    """The file of shipped config ``name`` (e.g. ``"sor_chebcb"``).

    Raises:
        ValueError: naming ``name`` and the shipped configs when there is none by it.
    """
    path = FOLDER / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"config {name!r} is not shipped{did_you_mean(name, config_names())}"
                         f" (shipped: {', '.join(config_names())})")
    return path
