"""Lowest layer: the packed batch, status codes, DOM geometry, atomic file writes, YAML loading.

Nothing here imports another part of the package.
"""
