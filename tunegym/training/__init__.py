"""Training from configs: ``tunegym train configs/<name>.yaml`` (see :mod:`.config`, :mod:`.train`)."""

from tunegym.training.config import TrainConfig
from tunegym.training.train import train

__all__ = ["TrainConfig", "train"]
