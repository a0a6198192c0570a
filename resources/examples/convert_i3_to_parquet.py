#!/usr/bin/env python3
"""Convert one I3 file to the converted-parquet format (features + truth), one job per file.

    python convert_i3_to_parquet.py --gcd GCD.i3.zst -i IN.i3.zst -o OUT_DIR

Equivalent to ``llp-gap-reco convert --gcd GCD -i IN -o OUT_DIR`` (same options, e.g.
``--on-error flag``). Exit codes: 0 success, 1 unexpected processing error, 2 bad arguments or
unusable input (a truncated file; an event whose truth map is unreadable, unless
``--on-error flag`` counts it as ERROR). Rerunning into the same folder resumes.
"""

from __future__ import annotations

import sys

try:  # inside an icetray build
    from icecube.llp_gap_reco.cli.main import main
except ImportError:  # pip-installed package
    from llp_gap_reco.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["convert", *sys.argv[1:]]))
