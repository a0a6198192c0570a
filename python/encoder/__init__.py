"""The transformer encoder over packed per-DOM rows."""
