"""Training: trainer, checkpoints, distributed data parallel."""

from __future__ import annotations

from .config import TrainConfig, load_train_config
from .trainer import Trainer, TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "Trainer", "load_train_config", "train"]
