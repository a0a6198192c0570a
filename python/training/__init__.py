"""Training: trainer, checkpoints, distributed data parallel."""
