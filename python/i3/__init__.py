"""IceTray integration: the LLPGapReco module and I3 -> parquet conversion.

Only this part of the package imports ``icecube``.
"""
