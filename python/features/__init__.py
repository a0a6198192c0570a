"""Per-DOM summary statistics: the model input."""
