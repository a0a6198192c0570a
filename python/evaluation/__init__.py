"""Evaluation: resolution, pulls, coverage, report."""
