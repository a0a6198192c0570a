"""The ``llp-gap-reco`` console script."""
