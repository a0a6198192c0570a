"""The conditional 6D normalizing flow and its posterior summaries."""
