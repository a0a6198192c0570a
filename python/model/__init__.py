"""Model layer: encoder, conditional flow, point head and the model bundle that ties them to
their feature configuration and normalisation.

Imports :mod:`llp_gap_reco.core` and :mod:`llp_gap_reco.data`; never training code.
"""
