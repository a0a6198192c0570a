"""Converted parquet data: format, seed-compatible dataset, packed loader."""
